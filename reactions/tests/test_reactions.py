"""Reactions: one per user per emoji (a toggle), counts on the message, who reacted, the
`reaction.changed` event to the chat's members, and a toggle that costs the same in a chat
of 2 as in one of 10,000."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chats.services import message_create, message_delete
from reactions.models import Reaction
from realtime.models import CentrifugoOutbox, Event

pytestmark = pytest.mark.django_db


def _url(chat, message):
    return f"/api/chats/{chat.pk}/messages/{message.pk}/reactions/"


def _mark() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_a_reaction_toggles_and_counts_live_on_the_message(team, client_for):
    message, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="ship it?")
    member, admin = client_for(team.member), client_for(team.admin)
    mark = _mark()
    first = member.post(_url(team.chat, message), {"emoji": "👍"}, format="json")
    assert first.status_code == 200
    assert first.json() == {
        "message_id": message.pk,
        "user_id": team.member.pk,
        "emoji": "👍",
        "added": True,
        "count": 1,
        "reactions": {"👍": 1},
    }
    assert admin.post(_url(team.chat, message), {"emoji": "👍"}, format="json").json()["count"] == 2
    admin.post(_url(team.chat, message), {"emoji": "🎉"}, format="json")
    taken_back = member.post(_url(team.chat, message), {"emoji": "👍"}, format="json").json()
    assert (taken_back["added"], taken_back["count"], taken_back["reactions"]) == (False, 1, {"👍": 1, "🎉": 1})

    events = list(Event.objects.filter(id__gt=mark).order_by("id"))
    assert [e.type for e in events] == ["reaction.changed"] * 4
    assert events[-1].data == taken_back  # the event is what the REST answer says
    assert all(e.to_members and e.also_to == [] and e.chat_id == team.chat.pk for e in events)
    [outbox] = CentrifugoOutbox.objects.filter(payload__idempotency_key=f"event-{events[-1].pk}")
    assert (outbox.method, outbox.payload["channel"]) == ("publish", f"chat:{team.chat.pk}")

    # The counts come with the message: in the page of messages, and in its later events.
    [listed] = member.get(f"/api/chats/{team.chat.pk}/messages/").json()["results"]
    assert listed["reactions"] == {"👍": 1, "🎉": 1}


def test_who_reacted_is_listed_to_members_only(team, client_for):
    message, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="hi")
    for user, emoji in ((team.member, "👍"), (team.admin, "👍"), (team.admin, "❤️")):
        client_for(user).post(_url(team.chat, message), {"emoji": emoji}, format="json")
    owner = client_for(team.owner)
    everyone = owner.get(_url(team.chat, message)).json()
    assert [(r["emoji"], r["user"]["username"]) for r in everyone["results"]] == [
        ("👍", team.member.username),
        ("👍", team.admin.username),
        ("❤️", team.admin.username),
    ]
    thumbs = owner.get(_url(team.chat, message), {"emoji": "👍", "limit": 1}).json()
    assert len(thumbs["results"]) == 1 and thumbs["next_offset"] == 1
    assert client_for(team.outsider).get(_url(team.chat, message)).status_code == 404
    assert client_for(team.outsider).post(_url(team.chat, message), {"emoji": "👍"}, format="json").status_code == 404


@pytest.mark.parametrize("emoji", ["", "a", "👍" * 9, "👍👍", "<b>", 5, None, "👍 ", "1", "🇫"])
def test_anything_but_one_emoji_is_400(team, client_for, emoji):
    message, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="hi")
    response = client_for(team.member).post(_url(team.chat, message), {"emoji": emoji}, format="json")
    assert response.status_code == 400
    assert "emoji" in response.json()["extra"]["fields"]


def test_flags_skin_tones_and_joined_emoji_are_one_emoji(team, client_for):
    message, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="hi")
    for emoji in ("🇫🇷", "👍🏽", "👩‍👩‍👧", "❤️"):
        response = client_for(team.member).post(_url(team.chat, message), {"emoji": emoji}, format="json")
        assert response.status_code == 200, emoji


def test_other_chats_messages_deleted_ones_and_too_many_kinds_are_refused(team, client_for, settings):
    elsewhere, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="here")
    from chats.services import chat_create

    other_chat = chat_create(created_by=team.member, title="Other")
    member = client_for(team.member)
    # A message of another chat through this chat's URL: not found.
    wrong_url = f"/api/chats/{other_chat.pk}/messages/{elsewhere.pk}/reactions/"
    response = member.post(wrong_url, {"emoji": "👍"}, format="json")
    assert response.status_code == 404
    member.post(_url(team.chat, elsewhere), {"emoji": "👍"}, format="json")
    message_delete(message=elsewhere, actor=team.owner)
    assert not Reaction.objects.filter(message=elsewhere).exists()  # deleted with the message
    assert member.post(_url(team.chat, elsewhere), {"emoji": "👍"}, format="json").status_code == 409

    busy, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="busy")
    emoji = [chr(0x1F600 + n) for n in range(21)]
    for face in emoji[:20]:
        assert member.post(_url(team.chat, busy), {"emoji": face}, format="json").status_code == 200
    refused = member.post(_url(team.chat, busy), {"emoji": emoji[20]}, format="json")
    assert refused.status_code == 409 and refused.json()["extra"] == {"limit": 20}


def test_reactions_go_with_the_chat(team, client_for):
    from chats.services import chat_delete

    message, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="hi")
    client_for(team.member).post(_url(team.chat, message), {"emoji": "👍"}, format="json")
    chat_delete(chat=team.chat, actor=team.owner)
    assert not Reaction.objects.filter(message_id=message.pk).exists()


@pytest.mark.slow
def test_a_toggle_costs_the_same_statements_in_a_chat_of_2_and_of_10000(room_of, client_for):
    """The request path's SQL, statement by statement, does not depend on the chat's size:
    no member list is read or written (the event goes to the chat's channel once)."""
    shapes = {}
    for size in (2, 10_000):
        chat, owner = room_of(size)
        message, _ = message_create(chat_id=chat.pk, author=owner, text="react")
        client = client_for(owner)
        client.post(_url(chat, message), {"emoji": "👍"}, format="json")  # warm: token, caches
        statements = []
        for _ in range(2):  # take it back, then add it again
            with CaptureQueriesContext(connection) as queries:
                assert client.post(_url(chat, message), {"emoji": "👍"}, format="json").status_code == 200
            statements.append([q["sql"].split()[0] for q in queries.captured_queries])
        shapes[size] = statements
        assert Reaction.objects.filter(message=message).count() == 1  # no per-member rows
    assert shapes[2] == shapes[10_000]
    print(f"\nstatements per toggle (remove, add): {[len(s) for s in shapes[10_000]]}")


def test_my_reactions_on_given_messages(team, client_for):
    first, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="one")
    second, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="two")
    member = client_for(team.member)
    for message, emoji in ((first, "👍"), (first, "🎉"), (second, "❤️")):
        member.post(_url(team.chat, message), {"emoji": emoji}, format="json")
    client_for(team.admin).post(_url(team.chat, second), {"emoji": "👍"}, format="json")
    url = f"/api/chats/{team.chat.pk}/reactions/mine/"
    mine = member.get(f"{url}?message_id={first.pk}&message_id={second.pk}").json()["results"]
    assert mine == [
        {"message_id": first.pk, "emoji": "👍"},
        {"message_id": first.pk, "emoji": "🎉"},
        {"message_id": second.pk, "emoji": "❤️"},
    ]
    assert client_for(team.admin).get(f"{url}?message_id={first.pk}").json() == {"results": []}
    assert member.get(url).status_code == 400
    assert member.get(f"{url}?message_id=x").status_code == 400
    assert client_for(team.outsider).get(f"{url}?message_id={first.pk}").status_code == 404


def test_a_deleted_accounts_reactions_stay_anonymous_and_counts_match(team, client_for):
    message, _ = message_create(chat_id=team.chat.pk, author=team.owner, text="hi")
    client_for(team.member).post(_url(team.chat, message), {"emoji": "👍"}, format="json")
    client_for(team.admin).post(_url(team.chat, message), {"emoji": "👍"}, format="json")
    team.member.delete()
    who = client_for(team.owner).get(_url(team.chat, message)).json()["results"]
    assert [r["user"] for r in who] == [None, {"id": team.admin.pk, "username": team.admin.username}]
    message.refresh_from_db()
    assert message.reactions == {"👍": 2} == {"👍": Reaction.objects.filter(message=message).count()}
