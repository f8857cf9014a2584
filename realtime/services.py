"""The one place where a domain change becomes an event.

Services call `event_emit` inside their transaction (the hot path, `message_create`, puts
`event_insert_sql` into its own single statement). One SQL statement appends the event to
the event log and queues its Centrifugo publications in the outbox table, in the caller's
transaction: the change and its event commit together or not at all, and a write succeeds
while Centrifugo is down (the outbox consumer sends the publications when it is back).

Who receives an event is not listed per member. `to_members` events go to the chat's
channel `chat:<id>` (members subscribe with a subscription token) and, in the feed, to
whoever is a member when they read; `also_to` names users who get it on their personal
channel as well (a removed member, a new one). A message costs the same for a chat of 2 as
for a chat of 10,000.
"""

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from core.renderers import json_bytes

from .events import EventEnvelope, EventType, message_quote
from .models import CentrifugoOutbox, Event, EventLogPrune


def personal_channel(user_id: int) -> str:
    """The user's own Centrifugo channel; `#` limits it to the user whose token says so."""
    return f"{settings.CENTRIFUGO_PERSONAL_NAMESPACE}:#{user_id}"


def chat_channel(chat_id: int) -> str:
    """A chat's Centrifugo channel; subscribing needs a subscription token (members only)."""
    return f"{settings.CENTRIFUGO_CHAT_NAMESPACE}:{chat_id}"


# Appends one event and its outbox rows. `%(source)s` is the FROM of the event row: a
# one-row VALUES list for `event_emit`, or the caller's CTE (one row, or none: then there is
# no event). The envelope in each outbox payload lacks the event id until SQL sets it, with
# the idempotency key that makes a repeated dispatch reach a client once.
_EVENT_INSERT = """
new_event as (
    insert into {event} (type, chat_id, to_members, also_to, data, created_at)
    select %(event_type)s, %(event_chat_id)s, %(event_to_members)s, %(event_also_to)s::bigint[], {data},
           %(event_created_at)s
    from {source}
    returning id, data{wake_later}
),
new_outbox as (
    insert into {outbox} (method, payload, partition, created_at)
    select command->>'method',
           jsonb_set(
               jsonb_set(command->'payload', '{{data}}', jsonb_set(command->'payload'->'data', '{{id}}', to_jsonb(e.id))
                                                         || jsonb_build_object('data', e.data)),
               '{{idempotency_key}}', to_jsonb('event-' || e.id)),
           0, %(event_created_at)s
    from new_event e, jsonb_array_elements(%(event_commands)s::jsonb) as command
)"""


def event_insert_sql(
    *,
    type: EventType,
    chat_id: int,
    data: dict[str, Any],
    to_members: bool = True,
    also_to: Iterable[int] = (),
    source: str = "(values (1)) as one",
    data_sql: str = "%(event_data)s::jsonb",
    wake_after_commit: bool = False,
) -> tuple[str, dict[str, Any], EventEnvelope]:
    """The CTEs `new_event, new_outbox` for one event, their parameters, and the envelope
    without its id. `data_sql` may patch `data` with columns of `source` (a message's id).
    `wake_after_commit`: the insert triggers send no wake-ups in this transaction once the
    event is written; the caller calls `wake_up()` once the statement has committed."""
    also_to = sorted(set(also_to))
    created_at = timezone.now()
    envelope: EventEnvelope = {"type": type, "chat_id": chat_id, "id": 0, "data": {}, "ts": created_at.isoformat()}
    commands: list[tuple[str, dict[str, Any]]] = []
    if to_members:
        commands.append(("publish", {"channel": chat_channel(chat_id), "data": envelope}))
    if also_to:
        channels = [personal_channel(user_id) for user_id in also_to]
        commands.append(("broadcast", {"channels": channels, "data": envelope}))
    sql = _EVENT_INSERT.format(
        event=Event._meta.db_table,
        outbox=CentrifugoOutbox._meta.db_table,
        source=source,
        data=data_sql,
        wake_later=f", {_WAKE_LATER}" if wake_after_commit else "",
    )
    # Scalars only: psycopg adapts a Python list in Python, element by element (about 0.05 ms
    # of a POST's CPU for the three lists this took), a string in C.
    params = {
        "event_type": type,
        "event_chat_id": chat_id,
        "event_to_members": to_members,
        "event_also_to": "{" + ",".join(str(int(user_id)) for user_id in also_to) + "}",
        "event_data": _json(data),
        "event_created_at": created_at,
        "event_commands": _json([{"method": method, "payload": payload} for method, payload in commands]),
    }
    return sql, params, envelope | {"data": data}


# The flag the insert triggers read (realtime/migrations/0008): set for the rest of the
# transaction, in the statement that writes the event, only when it writes one.
_WAKE_LATER = "set_config('messenger.notify_after_commit', 'on', true) as wake_later"
# What the triggers would have sent: the feed's listeners and Centrifugo's outbox consumer
# (its `partition_notification_channel`; the outbox has one partition, 0). Both read
# everything new when woken, so one nudge covers every event of the transaction.
_WAKE_UP = "select pg_notify('realtime_events', ''), pg_notify('centrifugo_outbox', '0')"


def wake_up() -> None:
    """Wakes the feed's listeners and Centrifugo's outbox consumer, once a statement written
    with `event_insert_sql(wake_after_commit=True)` has committed (message_create hands it to
    core.postgresql.group_commit, which calls it once per transaction). The NOTIFY is a
    transaction of its own: it writes only its commit record and does not wait for it to be
    flushed, so PostgreSQL's notify lock is held for a moment, not across a commit's flush
    (see realtime/migrations/0008), and it costs no second WAL flush. Should it fail, the
    consumer's poll (`partition_poll_interval`) and the listener's idle read still find the
    event."""
    with connection.prepared_cursor() as cursor:  # once per POST: parsed and planned once
        cursor.execute(_WAKE_UP)


def event_emit(
    *, type: EventType, chat_id: int, data: dict[str, Any], to_members: bool = True, also_to: Iterable[int] = ()
) -> EventEnvelope:
    """Records an event of the chat for its members (`to_members`) and for `also_to`; the
    caller's transaction must be open."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_emit must run inside the transaction of the change")
    sql, params, envelope = event_insert_sql(
        type=type, chat_id=chat_id, data=data, to_members=to_members, also_to=also_to
    )
    with connection.cursor() as cursor:
        cursor.execute(f"with {sql} select id from new_event", params)  # noqa: S608 (fixed SQL, values are parameters)
        (event_id,) = cursor.fetchone()
    return envelope | {"id": event_id}


def typing_channel(chat_id: int) -> str:
    """The chat's typing and presence channel (the `presence` app publishes there)."""
    return f"{settings.CENTRIFUGO_TYPING_NAMESPACE}:{chat_id}"


def chat_unsubscribe_later(*, chat_id: int, user_id: int) -> None:
    """Queues Centrifugo's server-API unsubscribe of the user from the chat's channels (its
    events, and its typing and presence), in the caller's transaction: a removed member
    stops receiving, typing and being seen at once, and the rows wait in the outbox while
    Centrifugo is down."""
    CentrifugoOutbox.objects.bulk_create(
        CentrifugoOutbox(method="unsubscribe", payload={"channel": channel, "user": str(user_id)})
        for channel in (chat_channel(chat_id), typing_channel(chat_id))
    )


# The events whose `data` is a message's text as it was when they were written.
MESSAGE_TEXT_EVENTS = ("message.created", "message.updated")


def message_events_redact(*, chat_id: int, message_id: int, data: dict[str, Any]) -> int:
    """Makes a message's old text unreachable, in the caller's transaction (a delete or an
    edit, with `data` the message as it is now); returns how many events were rewritten.

    - Event log: every earlier `message.created` / `message.updated` of the message gets
      `data` instead, so a feed read from any cursor shows only the tombstone (or the new
      text); the events of replies that quote it get the quote as it is now. The feed
      process's memory follows when it reads the delete or edit event (`edge.listener`).
    - Outbox: a publication of those events that Centrifugo has not taken yet is rewritten
      too (it would otherwise publish the text after the delete).
    - Centrifugo history: publications cannot be changed, so the chat channel's history is
      removed (`history_remove`, queued here, ahead of the caller's event): a client that
      recovers from an offset before it is told the stream changed and refetches over REST.

    Call it before emitting the delete or edit event, so that event opens the new history.
    """
    payload = _json(data)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""update {Event._meta.db_table} set data = %(data)s::jsonb
                where chat_id = %(chat_id)s and type in ('message.created', 'message.updated')
                  and (data -> 'id') = to_jsonb(%(id)s::bigint)""",  # noqa: S608 (table name; the index's predicate)
            {"data": payload, "chat_id": chat_id, "id": message_id},
        )
        rewritten = cursor.rowcount
        cursor.execute(
            f"""update {CentrifugoOutbox._meta.db_table}
                set payload = jsonb_set(payload, '{{data,data}}', %(data)s::jsonb)
                where method = 'publish' and payload->>'channel' = %(channel)s
                  and payload->'data'->>'type' = any(%(types)s)
                  and (payload->'data'->'data'->'id') = to_jsonb(%(id)s::bigint)""",  # noqa: S608 (table name)
            {"data": payload, "channel": chat_channel(chat_id), "types": list(MESSAGE_TEXT_EVENTS), "id": message_id},
        )
        # Replies quote the message: their events get the quote as it is now.
        quote = {"quote": _json(message_quote(data)), "chat_id": chat_id, "id": message_id}
        cursor.execute(
            f"""update {Event._meta.db_table} set data = jsonb_set(data, '{{reply_to}}', %(quote)s::jsonb)
                where chat_id = %(chat_id)s and type in ('message.created', 'message.updated')
                  and (data -> 'reply_to' -> 'id') = to_jsonb(%(id)s::bigint)""",  # noqa: S608 (table name)
            quote,
        )
        rewritten += cursor.rowcount
        cursor.execute(
            f"""update {CentrifugoOutbox._meta.db_table}
                set payload = jsonb_set(payload, '{{data,data,reply_to}}', %(quote)s::jsonb)
                where method = 'publish' and payload->>'channel' = %(channel)s
                  and payload->'data'->>'type' = any(%(types)s)
                  and (payload->'data'->'data'->'reply_to'->'id') = to_jsonb(%(id)s::bigint)""",  # noqa: S608
            quote | {"channel": chat_channel(chat_id), "types": list(MESSAGE_TEXT_EVENTS)},
        )
    CentrifugoOutbox.objects.create(method="history_remove", payload={"channel": chat_channel(chat_id)})
    return rewritten


# Centrifugo's disconnect code for revoked access. 4500-4999 are the application's codes that
# tell a client not to reconnect: with 4000-4499 it would reconnect at once with the
# connection token it still holds, which stays valid until it expires.
ACCESS_REVOKED_CODE = 4501


# Whether this transaction already revoked the user: their `user.revoked` event with this
# transaction's id (the partial GIN index on also_to finds the user's few).
_REVOKED_IN_THIS_TRANSACTION = f"""
select exists (
    select 1 from {Event._meta.db_table}
    where also_to <> '{{}}' and also_to @> %s::bigint[]
      and type = 'user.revoked' and txid = pg_current_xact_id()::text::bigint
)"""  # noqa: S608 (table name)


def user_delivery_revoke(*, user_id: int, reason: str = "access revoked") -> None:
    """Ends, at once and on every transport, what the user's access could still receive:
    call it on logout, logout everywhere, password change and deactivation.

    - WebSocket: Centrifugo's server-API `disconnect` of every connection of the user, queued
      in the outbox, so it waits out a Centrifugo outage and commits with the change.
    - SSE and long polling: a `user.revoked` event for the user alone (`also_to`) wakes each
      of their waiting streams and polls, which re-check their own credentials and end (401
      for a long poll, the end of an SSE stream) when those no longer hold; a stream whose
      credentials still hold (another device after a logout) goes on and never shows it.
    - Polling: every request authenticates anew.

    Runs in the caller's transaction when there is one: a change that rolls back revokes
    nothing. A transaction revokes a user once: a password change that also ends N tokens
    (each deletion calls this) writes one event and one disconnect, not 1 + N.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_REVOKED_IN_THIS_TRANSACTION, [[user_id]])
            if cursor.fetchone()[0]:
                return
        event_emit(type="user.revoked", chat_id=0, data={"reason": reason}, to_members=False, also_to=[user_id])
        CentrifugoOutbox.objects.create(
            method="disconnect",
            payload={"user": str(user_id), "disconnect": {"code": ACCESS_REVOKED_CODE, "reason": reason}},
        )


def _json(value: Any) -> str:
    return json_bytes(value).decode()


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
