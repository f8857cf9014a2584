"""Every write emits exactly one event, to the right people, agreeing with a REST read.

After Zulip's test_events: an event's `data` equals what the API returns for the object.
"""

import pytest
from django.db import transaction

from chats import services
from realtime.models import CentrifugoOutbox
from testing.plugins.data import events_since

pytestmark = pytest.mark.django_db


def test_message_created_matches_rest_read_and_goes_to_the_chat_channel(team, client_for, mark):
    response = client_for(team.member).post(f"/api/chats/{team.chat.pk}/messages/", {"text": "hello"}, format="json")
    [event] = events_since(mark)
    assert event.type == "message.created"
    assert event.data == response.json()
    assert event.to_members and event.also_to == []

    [outbox] = CentrifugoOutbox.objects.filter(payload__idempotency_key=f"event-{event.pk}")
    assert outbox.method == "publish"
    assert outbox.payload["channel"] == f"chat:{team.chat.pk}"
    assert outbox.payload["data"] == event.envelope()


def test_a_message_costs_the_same_rows_for_a_big_chat(team, make_user, mark):
    """One event row and one outbox row, without member lists, whatever the chat's size."""
    for _ in range(30):
        services.chat_member_add(chat=team.chat, user=make_user(), added_by=team.owner)
    mark = events_since(0)[-1].pk
    services.message_create(chat_id=team.chat.pk, author=team.member, text="to 33")
    [event] = events_since(mark)
    outbox = CentrifugoOutbox.objects.filter(payload__idempotency_key=f"event-{event.pk}")
    assert [row.method for row in outbox] == ["publish"]
    assert event.also_to == [] and "channels" not in outbox[0].payload


def test_each_service_emits_one_event_of_its_type(team, make_user, mark):
    newcomer = make_user()
    message, _ = services.message_create(chat_id=team.chat.pk, author=team.member, text="a")
    services.message_update(message=message, actor=team.member, text="b")
    services.message_delete(message=message, actor=team.admin)
    services.chat_update(chat=team.chat, actor=team.owner, title="Renamed")
    services.chat_member_add(chat=team.chat, user=newcomer, added_by=team.admin)
    services.chat_member_update(chat=team.chat, user_id=newcomer.pk, role="admin", actor=team.owner)
    services.chat_member_remove(chat=team.chat, user_id=newcomer.pk, actor=team.owner)
    services.chat_delete(chat=team.chat, actor=team.owner)

    events = events_since(mark)
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
    added, removed, deleted = events[4], events[6], events[7]
    assert added.to_members and added.also_to == [newcomer.pk], "the newcomer hears on their own channel"
    assert added.data["chat"]["title"] == "Renamed"
    assert removed.also_to == [newcomer.pk], "a removed member hears of their own removal"
    assert not deleted.to_members
    assert set(deleted.also_to) == {team.owner.pk, team.admin.pk, team.member.pk}
    unsubscribe, typing = CentrifugoOutbox.objects.filter(method="unsubscribe").order_by("id")
    assert unsubscribe.payload == {"channel": f"chat:{team.chat.pk}", "user": str(newcomer.pk)}
    assert typing.payload == {"channel": f"typing:{team.chat.pk}", "user": str(newcomer.pk)}
    removed_rows = CentrifugoOutbox.objects.filter(payload__idempotency_key=f"event-{removed.pk}")
    assert typing.pk < min(row.pk for row in removed_rows), "off the channels before the event"


def test_a_refused_write_emits_nothing(team, mark):
    with pytest.raises(Exception):  # noqa: B017 - the service's own refusal
        services.chat_update(chat=team.chat, actor=team.member, title="nope")
    assert events_since(mark) == []


def test_a_rolled_back_write_leaves_no_event_and_no_outbox_row(team, mark):
    outbox_before = CentrifugoOutbox.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.message_create(chat_id=team.chat.pk, author=team.member, text="never")
        raise RuntimeError("rolled back")
    assert events_since(mark) == []
    assert CentrifugoOutbox.objects.count() == outbox_before


def test_event_emit_refuses_to_run_outside_a_transaction(transactional_db):
    from realtime.services import event_emit

    with pytest.raises(RuntimeError):
        event_emit(type="chat.updated", chat_id=1, data={})
