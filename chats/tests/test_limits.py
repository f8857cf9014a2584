"""Limits on chats: members per chat (CHAT_MEMBERS_MAX), paginated chat and member lists,
and exactly one owner per chat, enforced by the database."""

import pytest
from django.db import IntegrityError, connection, transaction

from chats.models import Chat, Membership
from chats.services import chat_create, chat_member_add, chat_owner_transfer
from core.exceptions import ApplicationError, ConflictError

pytestmark = pytest.mark.django_db

Role = Membership.Role


def test_member_add_past_the_limit_is_a_clear_409(team, make_user, client_for, settings):
    settings.CHAT_MEMBERS_MAX = 4  # the team has 3
    owner = client_for(team.owner)
    url = f"/api/chats/{team.chat.pk}/members/"
    assert owner.post(url, {"user_id": make_user().pk}, format="json").status_code == 201
    response = owner.post(url, {"user_id": make_user().pk}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "message": "This chat is full: a chat has at most 4 members.",
        "extra": {"limit": 4},
    }
    assert team.chat.memberships.count() == 4
    # The Django admin's path (added_by=None) obeys it too.
    with pytest.raises(ConflictError):
        chat_member_add(chat=team.chat, user=make_user(), added_by=None)


def test_chat_create_past_the_limit_is_400(make_user, client_for, settings):
    settings.CHAT_MEMBERS_MAX = 3
    me, *others = (make_user() for _ in range(4))
    response = client_for(me).post("/api/chats/", {"title": "big", "member_ids": [u.pk for u in others]}, format="json")
    assert response.status_code == 400
    assert "member_ids" in response.json()["extra"]["fields"]
    assert not Chat.objects.filter(title="big").exists()
    assert chat_create(created_by=me, title="fits", member_ids=[u.pk for u in others[:2]]).memberships.count() == 3


def test_chat_list_pages_by_limit_and_offset(make_user, client_for):
    me = make_user()
    chats = [chat_create(created_by=me, title=f"c{i}") for i in range(5)]
    client = client_for(me)
    seen, offset, pages = [], 0, 0
    while offset is not None:
        page = client.get("/api/chats/", {"limit": 2, "offset": offset}).json()
        assert len(page["results"]) <= 2
        seen += [chat["id"] for chat in page["results"]]
        offset, pages = page["next_offset"], pages + 1
    assert pages == 3
    assert sorted(seen) == sorted(chat.pk for chat in chats)
    assert client.get("/api/chats/").json()["next_offset"] is None  # default page holds all five


def test_member_list_pages_by_limit_and_offset(team, make_user, client_for):
    for _ in range(3):
        chat_member_add(chat=team.chat, user=make_user(), added_by=team.owner)
    client = client_for(team.member)
    url = f"/api/chats/{team.chat.pk}/members/"
    first = client.get(url, {"limit": 4}).json()
    second = client.get(url, {"limit": 4, "offset": first["next_offset"]}).json()
    assert (len(first["results"]), first["next_offset"], len(second["results"]), second["next_offset"]) == (
        4,
        4,
        2,
        None,
    )
    ids = [m["user"]["id"] for m in first["results"] + second["results"]]
    assert sorted(ids) == sorted(team.chat.memberships.values_list("user_id", flat=True))


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 201}, {"offset": -1}, {"limit": "x"}])
def test_bad_page_parameters_are_400(team, client_for, query):
    for url in ("/api/chats/", f"/api/chats/{team.chat.pk}/members/"):
        response = client_for(team.member).get(url, query)
        assert response.status_code == 400
        assert response.json()["extra"]["fields"]


def test_the_paged_lists_are_in_the_openapi_schema():
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    for path in ("/api/chats/", "/api/chats/{chat_id}/members/"):
        names = {parameter["name"] for parameter in paths[path]["get"]["parameters"]}
        assert {"limit", "offset"} <= names


def test_a_second_owner_is_refused_by_the_database(team):
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.filter(chat=team.chat, user=team.admin).update(role=Role.OWNER)


def test_a_chat_without_owner_is_refused_at_commit(team):
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:  # check now instead of at the (test's) commit
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        Membership.objects.filter(chat=team.chat, role=Role.OWNER).update(role=Role.ADMIN)
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        Membership.objects.filter(chat=team.chat, role=Role.OWNER).delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        Chat.objects.create(title="nobody's")
    assert team.chat.memberships.get(role=Role.OWNER).user == team.owner


@pytest.mark.django_db(transaction=True)
def test_owner_transfer_and_chat_deletion_commit_under_the_trigger(team):
    """Real commits: the deferred check runs at each service's commit."""
    chat_owner_transfer(chat=team.chat, user_id=team.member.pk, actor=team.owner)
    assert dict(team.chat.memberships.values_list("user_id", "role")) == {
        team.owner.pk: Role.ADMIN,
        team.admin.pk: Role.ADMIN,
        team.member.pk: Role.OWNER,
    }
    with pytest.raises(ApplicationError):
        chat_owner_transfer(chat=team.chat, user_id=team.admin.pk, actor=team.owner)  # no longer the owner
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.filter(chat=team.chat, role=Role.OWNER).delete()
    assert team.chat.memberships.filter(role=Role.OWNER).count() == 1
    team.chat.delete()  # takes its memberships along: no chat, nothing to check
    assert not Membership.objects.filter(chat_id=team.chat.pk).exists()
