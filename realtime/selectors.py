"""Reads of the event log: a user's feed after a cursor.

The cursor is an event id; the feed's order is the events' position `(txid, id)` (see
`realtime.models.Event`). Only events below the *safe* transaction id are read: every
transaction of this database below it has ended, so an event that commits later can never
land behind a cursor already handed out.
"""

from dataclasses import dataclass, field

from django.db import connection
from rest_framework import status

from core.exceptions import ApplicationError

from .events import EventEnvelope
from .models import Event, EventLogPrune

# Events per answer when the client does not say; the most it may ask for.
FEED_PAGE_SIZE = 100
FEED_PAGE_SIZE_MAX = 500

Position = tuple[int, int]  # (txid, id)
# Before every event: the start of the log.
START: Position = (-1, 0)
_ID_MAX = 2**63 - 1

# The oldest transaction of this database still running (else the next id to be handed
# out): every event with a lower txid has committed or never will. Transactions of other
# databases on the same server are left out (a long one there must not stall this feed),
# which is why the events are read in a later statement: one that ended between this
# snapshot and the look at pg_stat_activity is then visible (an xid8's low 32 bits are the
# backend's xid).
SAFE_TXID_SQL = """
select least(pg_snapshot_xmax(s.snap)::text::bigint, (
    select min(x::text::bigint) from pg_snapshot_xip(s.snap) as x
    where (x::text::bigint & 4294967295) in (
        select backend_xid::text::bigint from pg_stat_activity
        where datname = current_database() and backend_xid is not null)))
from (select pg_current_snapshot() as snap) as s"""


class CursorGoneError(ApplicationError):
    """The cursor is outside the log: events after it were pruned, or it never came from it."""

    status_code = status.HTTP_410_GONE


@dataclass
class FeedPage:
    """Events after a cursor and the cursor to ask with next time.

    The next cursor can be past the last event: it moves over other users' events too, so
    the next query starts from there.
    """

    events: list[EventEnvelope] = field(default_factory=list)
    cursor: int = 0


@dataclass(frozen=True)
class LogBounds:
    """What one look at the log says: the pruning horizon (an id), the safe transaction
    bound, the newest readable event (id and position), and the cursor's position."""

    horizon: int
    safe_txid: int
    head: int
    head_position: Position
    after_txid: int | None


def event_log_bounds(after: int | None = None) -> LogBounds:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""select (select max(pruned_through) from {EventLogPrune._meta.db_table}), ({SAFE_TXID_SQL}),
                       (select txid from {Event._meta.db_table} where id = %s)""",  # noqa: S608 (table names)
            [after],
        )
        horizon, safe_txid, after_txid = cursor.fetchone()
        # A statement after the bound's: it sees every transaction below the bound ended.
        cursor.execute(
            f"select txid, id from {Event._meta.db_table} where txid < %s order by txid desc, id desc limit 1",  # noqa: S608
            [safe_txid],
        )
        head = cursor.fetchone()
    horizon = horizon or 0
    if head is None:
        return LogBounds(horizon, safe_txid, horizon, (START[0], horizon), after_txid)
    return LogBounds(horizon, safe_txid, head[1], (head[0], head[1]), after_txid)


def event_position(*, after: int, bounds: LogBounds) -> Position:
    """The position of a cursor, or CursorGoneError when the log cannot serve it."""
    if after < bounds.horizon:
        raise CursorGoneError(
            "This cursor is older than the event log keeps: events after it were deleted. "
            "Reload the chats and messages, then ask for the feed without a cursor.",
            extra={"cursor": after, "oldest_cursor": bounds.horizon},
        )
    if bounds.after_txid is None:
        if after == bounds.horizon:  # the start, or the last pruned event: all that is left
            return (START[0], after)
        raise CursorGoneError(
            "This cursor does not come from this server's event log. "
            "Reload the chats and messages, then ask for the feed without a cursor.",
            extra={"cursor": after, "newest_cursor": bounds.head},
        )
    # An id seen elsewhere (Centrifugo) may not be readable here yet: resume from what is.
    return min((bounds.after_txid, after), (bounds.safe_txid - 1, _ID_MAX))


def event_feed(*, user_id: int, chat_ids: list[int], after: int | None, limit: int = FEED_PAGE_SIZE) -> FeedPage:
    """The user's events after the cursor, oldest first, at most `limit` of them: those of
    the chats in `chat_ids` (the user's chats now) and those naming the user.

    Without a cursor: no events and the current head, the cursor to start from after the
    client has loaded its state over REST.
    """
    bounds = event_log_bounds(after)
    if after is None:
        return FeedPage(events=[], cursor=bounds.head)
    position = event_position(after=after, bounds=bounds)
    events = list(
        Event.objects.raw(
            f"""select id, type, chat_id, to_members, also_to, data, created_at, txid
                from {Event._meta.db_table}
                where (txid, id) > (%s, %s) and txid < %s
                  and (also_to @> array[%s]::bigint[] or (to_members and chat_id = any(%s)))
                order by txid, id limit %s""",  # noqa: S608 (table name)
            [position[0], position[1], bounds.safe_txid, user_id, chat_ids, limit],
        )
    )
    envelopes = [event.envelope() for event in events]
    if len(events) == limit:
        return FeedPage(events=envelopes, cursor=events[-1].pk)
    # Every event up to the head was readable by this query: none is skipped by moving there.
    return FeedPage(events=envelopes, cursor=bounds.head if bounds.head_position > position else after)
