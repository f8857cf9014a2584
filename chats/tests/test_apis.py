import pytest

from chats.models import Message
from chats.services import chat_create, message_create

pytestmark = pytest.mark.django_db


def test_chat_list_holds_only_my_chats_newest_activity_first(team, make_user, client_for):
    quiet = chat_create(created_by=team.member, title="Quiet")
    other_people = chat_create(created_by=team.outsider, title="Not mine")
    message_create(chat_id=team.chat.pk, author=team.owner, text="activity")

    titles = [chat["title"] for chat in client_for(team.member).get("/api/chats/").json()["results"]]

    assert titles == ["Team", "Quiet"]
    assert other_people.title not in titles
    assert quiet.pk


def test_create_group_chat_makes_caller_owner_and_adds_members(make_user, client_for):
    owner, friend = make_user(), make_user()
    response = client_for(owner).post("/api/chats/", {"title": "Trip", "member_ids": [friend.pk]}, format="json")
    assert response.status_code == 201
    members = client_for(friend).get(f"/api/chats/{response.data['id']}/members/").json()["results"]
    assert {(m["user"]["id"], m["role"]) for m in members} == {(owner.pk, "owner"), (friend.pk, "member")}


def test_direct_chat_is_with_exactly_one_other_user(make_user, client_for):
    me, you, them = make_user(), make_user(), make_user()
    client = client_for(me)
    response = client.post("/api/chats/", {"kind": "direct", "member_ids": [you.pk, them.pk]}, format="json")
    assert response.status_code == 400
    response = client.post("/api/chats/", {"kind": "direct", "member_ids": [you.pk]}, format="json")
    assert response.status_code == 201
    response = client.post(f"/api/chats/{response.data['id']}/members/", {"user_id": them.pk}, format="json")
    assert response.status_code == 400


def test_adding_an_existing_member_is_409(team, client_for):
    response = client_for(team.owner).post(
        f"/api/chats/{team.chat.pk}/members/", {"user_id": team.member.pk}, format="json"
    )
    assert response.status_code == 409
    assert team.member.username in response.data["message"]


def test_post_with_seen_client_id_returns_the_first_message(team, client_for):
    client = client_for(team.member)
    url = f"/api/chats/{team.chat.pk}/messages/"
    first = client.post(url, {"text": "once", "client_id": "abc-1"}, format="json")
    again = client.post(url, {"text": "once (retry)", "client_id": "abc-1"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.data["id"] == first.data["id"]
    assert again.data["text"] == "once"
    assert Message.objects.filter(chat=team.chat, client_id="abc-1").count() == 1
    # The same client_id from another author is another message.
    other = client_for(team.admin).post(url, {"text": "mine", "client_id": "abc-1"}, format="json")
    assert other.status_code == 201


def test_edit_and_soft_delete_message(team, client_for):
    client = client_for(team.member)
    message = client.post(f"/api/chats/{team.chat.pk}/messages/", {"text": "typo"}, format="json").data
    url = f"/api/chats/{team.chat.pk}/messages/{message['id']}/"

    edited = client.patch(url, {"text": "fixed"}, format="json")
    assert edited.status_code == 200
    assert edited.data["text"] == "fixed" and edited.data["edited_at"]

    assert client.delete(url).status_code == 204
    page = client.get(f"/api/chats/{team.chat.pk}/messages/").json()["results"]
    deleted = next(m for m in page if m["id"] == message["id"])
    assert deleted["text"] == "" and deleted["deleted_at"]
    assert client.patch(url, {"text": "again"}, format="json").status_code == 409


def test_member_who_left_no_longer_sees_the_chat(team, client_for):
    client = client_for(team.member)
    assert client.delete(f"/api/chats/{team.chat.pk}/members/{team.member.pk}/").status_code == 204
    assert client.get(f"/api/chats/{team.chat.pk}/").status_code == 404
    assert client.get("/api/chats/").json() == {"results": [], "next_offset": None}


def test_owner_deletes_chat(team, client_for):
    assert client_for(team.owner).delete(f"/api/chats/{team.chat.pk}/").status_code == 204
    assert client_for(team.member).get(f"/api/chats/{team.chat.pk}/").status_code == 404
