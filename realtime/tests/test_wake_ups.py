"""Who wakes the feed's listeners and Centrifugo's outbox consumer: a message POST once,
right after its commit (never from inside it); every other writer through the insert
triggers, as before; a transaction that rolls back wakes nobody."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import transaction

from chats.representations import chat_data
from chats.services import chat_update, message_create
from core.database import database_conninfo
from realtime.models import Event
from realtime.services import event_emit

pytestmark = pytest.mark.django_db(transaction=True)

CHANNELS = ("realtime_events", "centrifugo_outbox")


@contextmanager
def _listening() -> Iterator[Callable[[], list[tuple[str, str]]]]:
    """A session LISTENing as the feed and Centrifugo do; the callable returns what it got."""
    with psycopg.connect(**database_conninfo(), autocommit=True) as conn:
        for channel in CHANNELS:
            conn.execute(f"LISTEN {channel}")

        def received() -> list[tuple[str, str]]:
            return sorted((n.channel, n.payload) for n in conn.notifies(timeout=0.5))

        yield received


def test_a_message_post_wakes_each_once_after_its_commit(team, client_for):
    client = client_for(team.member)
    with _listening() as received:
        response = client.post(f"/api/chats/{team.chat.pk}/messages/", {"text": "hi"}, format="json")
        assert response.status_code == 201
        # The after-commit wake-ups alone: the triggers sent nothing from the message's
        # transaction (theirs would carry the event's id, and come as a second pair).
        assert received() == [("centrifugo_outbox", "0"), ("realtime_events", "")]


def test_other_writers_are_woken_by_the_triggers(team):
    with _listening() as received:
        chat_update(chat=team.chat, actor=None, title="renamed in the admin")  # a system path
        event = Event.objects.latest("id")
        assert received() == [("centrifugo_outbox", "0"), ("realtime_events", str(event.pk))]


def test_a_message_inside_a_larger_transaction_wakes_after_that_commits(team):
    data = chat_data(team.chat) | {"title": "and a rename"}
    with _listening() as received:
        with transaction.atomic():
            message_create(chat_id=team.chat.pk, author=team.member, text="first")
            event_emit(type="chat.updated", chat_id=team.chat.pk, data=data)
        # One nudge covers both events: each reader reads everything new when woken.
        assert received() == [("centrifugo_outbox", "0"), ("realtime_events", "")]

        with transaction.atomic():
            message_create(chat_id=team.chat.pk, author=team.member, text="never")
            transaction.set_rollback(True)
        assert received() == []
        # The flag ended with its transaction: the next writer's triggers wake as before.
        with transaction.atomic():
            envelope = event_emit(type="chat.updated", chat_id=team.chat.pk, data=data)
        assert received() == [("centrifugo_outbox", "0"), ("realtime_events", str(envelope["id"]))]
