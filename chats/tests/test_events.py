"""Every write emits exactly one event, to the right people, agreeing with a REST read.

After Zulip's test_events: an event's `data` equals what the API returns for the object.
"""

import pytest
from django.db import transaction

from chats import services
from realtime.models import CentrifugoOutbox, Event

pytestmark = pytest.mark.django_db


def _events_since(mark: int) -> list[Event]:
    return list(Event.objects.filter(id__gt=mark).order_by("id"))


@pytest.fixture
def mark() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_message_created_matches_rest_read_and_reaches_every_member(team, client_for, mark):
    response = client_for(team.member).post(f"/api/chats/{team.chat.pk}/messages/", {"text": "hello"}, format="json")
    [event] = _events_since(mark)
    assert event.type == "message.created"
    assert event.data == response.json()
    assert set(event.recipient_ids) == {team.owner.pk, team.admin.pk, team.member.pk}

    outbox = CentrifugoOutbox.objects.get(payload__idempotency_key=f"event-{event.pk}")
    assert outbox.method == "broadcast"
    assert set(outbox.payload["channels"]) == {f"personal:#{u.pk}" for u in (team.owner, team.admin, team.member)}
    assert outbox.payload["data"] == event.envelope()


def test_each_service_emits_one_event_of_its_type(team, make_user, mark):
    newcomer = make_user()
    message, _ = services.message_create(chat=team.chat, author=team.member, text="a")
    services.message_update(message=message, actor=team.member, text="b")
    services.message_delete(message=message, actor=team.admin)
    services.chat_update(chat=team.chat, actor=team.owner, title="Renamed")
    services.chat_member_add(chat=team.chat, user=newcomer, added_by=team.admin)
    services.chat_member_update(chat=team.chat, user_id=newcomer.pk, role="admin", actor=team.owner)
    services.chat_member_remove(chat=team.chat, user_id=newcomer.pk, actor=team.owner)
    services.chat_delete(chat=team.chat, actor=team.owner)

    events = _events_since(mark)
    assert [e.type for e in events] == [
        "message.created",
        "message.updated",
        "message.deleted",
        "chat.updated",
        "member.added",
        "member.updated",
        "member.removed",
        "chat.deleted",
    ]
    added, removed = events[4], events[6]
    assert newcomer.pk in added.recipient_ids
    assert added.data["chat"]["title"] == "Renamed"
    assert newcomer.pk in removed.recipient_ids, "a removed member hears of their own removal"
    assert newcomer.pk not in events[7].recipient_ids


def test_a_refused_write_emits_nothing(team, mark):
    with pytest.raises(Exception):  # noqa: B017 - the service's own refusal
        services.chat_update(chat=team.chat, actor=team.member, title="nope")
    assert _events_since(mark) == []


def test_a_rolled_back_write_leaves_no_event_and_no_outbox_row(team, mark):
    outbox_before = CentrifugoOutbox.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.message_create(chat=team.chat, author=team.member, text="never")
        raise RuntimeError("rolled back")
    assert _events_since(mark) == []
    assert CentrifugoOutbox.objects.count() == outbox_before


def test_event_emit_refuses_to_run_outside_a_transaction(transactional_db):
    from realtime.services import event_emit

    with pytest.raises(RuntimeError):
        event_emit(type="chat.updated", chat_id=1, data={}, recipient_ids=[1])
