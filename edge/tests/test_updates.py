"""GET /api/updates/ (polling) and the event log behind every transport: cursors, paging,
who sees what, bad input, pruning."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from chats.models import Membership
from realtime.models import Event, EventLogPrune
from realtime.selectors import event_feed
from realtime.services import event_log_prune

URL = "/api/updates/"
# The views read the database in worker threads, on connections of their own: the data
# must be committed, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def _feed(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def _post_message(client, chat, text: str) -> dict:
    response = client.post(f"/api/chats/{chat.pk}/messages/", {"text": text}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def team_clients(team, client_for):
    return {role: client_for(getattr(team, role)) for role in ("owner", "admin", "member", "outsider")}


def test_without_cursor_starts_at_the_head(team, team_clients):
    head = Event.objects.latest("id").pk
    assert _feed(team_clients["member"]) == {"events": [], "cursor": head}


def test_rest_writes_reach_the_feed_as_the_same_envelopes(team, team_clients):
    start = _feed(team_clients["member"])["cursor"]
    message = _post_message(team_clients["owner"], team.chat, "hello")
    page = _feed(team_clients["member"], after=start)
    assert [event["type"] for event in page["events"]] == ["message.created"]
    event = page["events"][0]
    # The same envelope Centrifugo gets, and the same representation as the REST answer.
    assert event == Event.objects.get(pk=event["id"]).envelope() | {"ts": event["ts"]}
    assert event["data"] == message
    assert page["cursor"] == event["id"]
    assert _feed(team_clients["member"], after=page["cursor"]) == {"events": [], "cursor": page["cursor"]}


def test_only_own_events(team, team_clients, make_user, client_for):
    start = _feed(team_clients["outsider"])["cursor"]
    _post_message(team_clients["owner"], team.chat, "team only")
    page = _feed(team_clients["outsider"], after=start)
    assert page["events"] == []
    # The cursor still moves past the others' events.
    assert page["cursor"] > start


def test_resuming_from_each_cursor_loses_and_repeats_nothing(team, team_clients):
    for number in range(7):
        _post_message(team_clients["owner"], team.chat, f"m{number}")
    everything = _feed(team_clients["member"], after=0, limit=500)["events"]
    seen, cursor = [], 0
    while True:
        page = _feed(team_clients["member"], after=cursor, limit=2)
        if not page["events"]:
            break
        seen += page["events"]
        cursor = page["cursor"]
    assert seen == everything
    assert [event["id"] for event in seen] == sorted({event["id"] for event in seen})
    assert [event["data"]["text"] for event in seen if event["type"] == "message.created"] == [
        f"m{number}" for number in range(7)
    ]


def test_a_member_added_later_receives_the_chat_from_then_on(team, team_clients, client_for):
    """Who reads a chat's events is decided when they read, as for REST (which shows a new
    member the chat's history): the newcomer's feed carries its addition and what follows."""
    start = _feed(team_clients["outsider"])["cursor"]
    _post_message(team_clients["owner"], team.chat, "before")
    response = team_clients["owner"].post(
        f"/api/chats/{team.chat.pk}/members/",
        {"user_id": team.outsider.pk, "role": Membership.Role.MEMBER},
        format="json",
    )
    assert response.status_code == 201, response.content
    _post_message(team_clients["owner"], team.chat, "after")
    events = _feed(team_clients["outsider"], after=start)["events"]
    added = [event for event in events if event["type"] == "member.added"]
    assert [event["data"]["chat"]["id"] for event in added] == [team.chat.pk]
    assert events[-1]["type"] == "message.created" and events[-1]["data"]["text"] == "after"


def test_a_removed_member_gets_their_removal_and_nothing_after(team, team_clients):
    start = _feed(team_clients["member"])["cursor"]
    response = team_clients["owner"].delete(f"/api/chats/{team.chat.pk}/members/{team.member.pk}/")
    assert response.status_code == 204
    _post_message(team_clients["owner"], team.chat, "after you left")
    events = _feed(team_clients["member"], after=start)["events"]
    assert [(event["type"], event["data"]["user_id"]) for event in events] == [("member.removed", team.member.pk)]
    others = _feed(team_clients["admin"], after=start)["events"]
    assert [event["type"] for event in others] == ["member.removed", "message.created"]


@pytest.mark.parametrize(
    "params",
    [{"after": "-1"}, {"after": "abc"}, {"after": "1", "wait": "61"}, {"after": "1", "wait": "x"}, {"limit": "0"}],
)
def test_bad_input_is_400(team, team_clients, params):
    response = team_clients["member"].get(URL, params)
    assert response.status_code == 400
    assert response.json()["message"] == "Invalid input."
    assert set(response.json()["extra"]["fields"]) <= {"after", "wait", "limit"}


def test_anonymous_is_401_and_a_session_works(team):
    assert Client().get(URL).status_code == 401
    assert Client().get(URL, HTTP_AUTHORIZATION="Token nope").status_code == 401
    browser = Client()
    browser.force_login(team.member)
    assert browser.get(URL).status_code == 200


def test_a_cursor_outside_the_log_is_410(team, team_clients):
    old_cursor = _feed(team_clients["member"])["cursor"]
    _post_message(team_clients["owner"], team.chat, "soon pruned")
    Event.objects.update(created_at=timezone.now() - timedelta(days=31))
    _post_message(team_clients["owner"], team.chat, "kept")
    assert event_log_prune() > 0

    response = team_clients["member"].get(URL, {"after": old_cursor})
    assert response.status_code == 410
    assert "Reload" in response.json()["message"]
    head = _feed(team_clients["member"])["cursor"]
    assert team_clients["member"].get(URL, {"after": head + 1000}).status_code == 410
    # From the horizon on, nothing is missing.
    horizon = EventLogPrune.objects.get().pruned_through
    texts = [event["data"]["text"] for event in _feed(team_clients["member"], after=horizon)["events"]]
    assert texts == ["kept"]


def test_prune_keeps_the_retention_period(team):
    kept = Event.objects.count()
    assert event_log_prune() == 0
    assert Event.objects.count() == kept
    assert event_log_prune(keep=timedelta(0)) == kept
    assert (
        event_feed(user_id=team.member.pk, chat_ids=[], after=None).cursor == EventLogPrune.objects.get().pruned_through
    )


def test_long_poll_times_out_empty(team, team_clients):
    start = _feed(team_clients["member"])["cursor"]
    assert _feed(team_clients["member"], after=start, wait=0.2) == {"events": [], "cursor": start}


def test_the_schema_documents_polling(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/updates/"]["get"]
    assert {parameter["name"] for parameter in operation["parameters"]} == {"after", "wait", "limit"}
    assert set(operation["responses"]) == {"200", "400", "401", "410"}
