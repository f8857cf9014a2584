"""The one place where a domain change becomes an event.

Services call `event_emit` inside their transaction. It appends the event to the event log
and queues its Centrifugo broadcast in the outbox table, both in the caller's transaction:
the change and its event commit together or not at all, and a write succeeds while
Centrifugo is down (the outbox consumer sends the broadcast when Centrifugo is back).
"""

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from .events import EventEnvelope, EventType
from .models import CentrifugoOutbox, Event, EventLogPrune

# Taken before an event row is inserted and held until commit, so that event ids are
# assigned in commit order. Without it, a transaction that took id 10 could commit after
# one that took id 11, and a client whose cursor had moved to 11 would never see 10.
EVENT_LOG_LOCK_KEY = 0x6D657373  # "mess"


def personal_channel(user_id: int) -> str:
    """The user's own Centrifugo channel; `#` limits it to the user whose token says so."""
    return f"{settings.CENTRIFUGO_PERSONAL_NAMESPACE}:#{user_id}"


def event_emit(*, type: EventType, chat_id: int, data: dict[str, Any], recipient_ids: Iterable[int]) -> EventEnvelope:
    """Records an event for `recipient_ids`; the caller's transaction must be open."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_emit must run inside the transaction of the change")
    recipients = sorted(set(recipient_ids))
    with connection.cursor() as cursor:
        cursor.execute("select pg_advisory_xact_lock(%s)", [EVENT_LOG_LOCK_KEY])
    event = Event.objects.create(type=type, chat_id=chat_id, recipient_ids=recipients, data=data)
    envelope = event.envelope()
    if recipients:
        CentrifugoOutbox.objects.create(
            method="broadcast",
            payload={
                "channels": [personal_channel(user_id) for user_id in recipients],
                "data": envelope,
                # Centrifugo drops a repeat with the same key: a retried dispatch never
                # reaches a client twice.
                "idempotency_key": f"event-{event.pk}",
            },
        )
    return envelope


# Rows deleted per statement: a backlog of months is deleted in short transactions, not one
# long one that would hold its locks and run into the task's time limit.
PRUNE_BATCH = 10_000


def event_log_prune(*, keep: timedelta | None = None) -> int:
    """Deletes events older than `keep` (default REALTIME_EVENT_RETENTION_DAYS); returns how many.

    Deletes a prefix of ids, not every old row. The end of that prefix is recorded first as
    the horizon, so the feed answers 410 to a cursor below it (instead of skipping what is
    deleted) from the start; then the rows go, a batch per transaction. Celery beat runs it
    daily (`realtime.event_log_prune`).
    """
    keep = keep if keep is not None else timedelta(days=settings.REALTIME_EVENT_RETENTION_DAYS)
    through = Event.objects.filter(created_at__lt=timezone.now() - keep).aggregate(through=Max("id"))["through"]
    if through is None:
        return 0
    prune = EventLogPrune.objects.create(pruned_through=through, deleted=0)
    deleted = 0
    while batch := list(
        Event.objects.filter(id__lte=through).order_by("id").values_list("id", flat=True)[:PRUNE_BATCH]
    ):
        deleted += Event.objects.filter(id__in=batch).delete()[0]
    EventLogPrune.objects.filter(pk=prune.pk).update(deleted=deleted)
    return deleted
