"""Reads of the event log: a user's feed after a cursor.

The cursor is an event id; the feed's order is the events' position `(txid, id)` (see
`realtime.models.Event`). Only events below the *safe* transaction id are read: every
transaction of this database below it has ended, so an event that commits later can never
land behind a cursor already handed out.

A plain event id (one the client saw anywhere, over WebSocket too) resumes from the oldest
position where an event with a lower id could still commit (`Event.resume_txid`): nothing is
skipped, and an event already seen may come again (clients drop repeats by id). A cursor the
feed hands out for an event inserted while an older writer was running is that event's id
plus EXACT_CURSOR_BASE: it names the exact position, so the feed itself repeats nothing.
"""

from dataclasses import dataclass, field

from django.conf import settings
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
# Cursors at or above this name an exact position (see the module's docstring). Below 2**53:
# a JavaScript number holds it exactly.
EXACT_CURSOR_BASE = 2**52


def cursor_of(event_id: int, txid: int, resume_txid: int) -> int:
    """The cursor the feed hands out for the position of this event."""
    return event_id if resume_txid >= txid else event_id + EXACT_CURSOR_BASE


def cursor_event(cursor: int) -> tuple[int, bool]:
    """The event id a cursor names and whether it names its exact position."""
    if cursor >= EXACT_CURSOR_BASE:
        return cursor - EXACT_CURSOR_BASE, True
    return cursor, False


def resume_position(event_id: int, txid: int, resume_txid: int, *, exact: bool) -> Position:
    """Where the feed resumes after this event: right after it, or (for a plain id of an
    event that had older writers running) before every event of those writers."""
    if exact or resume_txid >= txid:
        return (txid, event_id)
    return (resume_txid - 1, _ID_MAX)


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
    # Each event's own cursor (SSE's `id:` line), in the order of `events`.
    cursors: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class LogBounds:
    """What one look at the log says: the pruning horizon (an id), the safe transaction
    bound, the newest readable event (id and position), and the cursor's position."""

    horizon: int
    safe_txid: int
    head: int
    head_position: Position
    after_txid: int | None
    after_resume_txid: int | None = None
    head_cursor: int | None = None


def event_log_bounds(after: int | None = None) -> LogBounds:
    after_id = None if after is None else cursor_event(after)[0]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""select (select max(pruned_through) from {EventLogPrune._meta.db_table}), ({SAFE_TXID_SQL}),
                       (select array[txid, resume_txid] from {Event._meta.db_table} where id = %s)""",  # noqa: S608
            [after_id],
        )
        horizon, safe_txid, after_row = cursor.fetchone()
        # A statement after the bound's: it sees every transaction below the bound ended.
        cursor.execute(
            f"""select txid, id, resume_txid from {Event._meta.db_table} where txid < %s
                order by txid desc, id desc limit 1""",  # noqa: S608
            [safe_txid],
        )
        head = cursor.fetchone()
    horizon = horizon or 0
    after_txid, after_resume = after_row if after_row is not None else (None, None)
    if head is None:
        return LogBounds(horizon, safe_txid, horizon, (START[0], horizon), after_txid, after_resume, horizon)
    head_cursor = cursor_of(head[1], head[0], head[2])
    return LogBounds(horizon, safe_txid, head[1], (head[0], head[1]), after_txid, after_resume, head_cursor)


def cursor_gone(cursor: int, *, oldest: int) -> CursorGoneError:
    return CursorGoneError(
        "This cursor is older than the event log keeps: events after it were deleted. "
        "Reload the chats and messages, then ask for the feed without a cursor.",
        extra={"cursor": cursor, "oldest_cursor": oldest},
    )


def cursor_behind(cursor: int, *, head: int) -> CursorGoneError:
    """A cursor too far behind the head: catching up event by event costs more than a reload."""
    return CursorGoneError(
        "This cursor is too far behind the newest events. "
        "Reload the chats and messages over the REST API, then ask for the feed without a cursor.",
        extra={"cursor": cursor, "newest_cursor": head, "max_behind": settings.REALTIME_FEED_MAX_BEHIND},
    )


def event_position(*, after: int, bounds: LogBounds) -> Position:
    """The position of a cursor, or CursorGoneError when the log cannot serve it."""
    event_id, exact = cursor_event(after)
    if event_id < bounds.horizon:
        raise cursor_gone(after, oldest=bounds.horizon)
    if bounds.head - event_id > settings.REALTIME_FEED_MAX_BEHIND:
        raise cursor_behind(after, head=bounds.head_cursor)
    if bounds.after_txid is None:
        if event_id == bounds.horizon and not exact:  # the start, or the last pruned event: all that is left
            return (START[0], event_id)
        raise CursorGoneError(
            "This cursor does not come from this server's event log. "
            "Reload the chats and messages, then ask for the feed without a cursor.",
            extra={"cursor": after, "newest_cursor": bounds.head_cursor},
        )
    position = resume_position(event_id, bounds.after_txid, bounds.after_resume_txid, exact=exact)
    # An id seen elsewhere (Centrifugo) may not be readable here yet: resume from what is.
    return min(position, (bounds.safe_txid - 1, _ID_MAX))


def event_feed(*, user_id: int, chat_ids: list[int], after: int | None, limit: int = FEED_PAGE_SIZE) -> FeedPage:
    """The user's events after the cursor, oldest first, at most `limit` of them: those of
    the chats in `chat_ids` (the user's chats now) and those naming the user.

    Without a cursor: no events and the current head, the cursor to start from after the
    client has loaded its state over REST.
    """
    bounds = event_log_bounds(after)
    if after is None:
        return FeedPage(events=[], cursor=bounds.head_cursor)
    position = event_position(after=after, bounds=bounds)
    events = list(
        Event.objects.raw(
            f"""select id, type, chat_id, to_members, also_to, data, created_at, txid, resume_txid
                from {Event._meta.db_table}
                where (txid, id) > (%s, %s) and txid < %s
                  and ((also_to <> '{{}}' and also_to @> array[%s]::bigint[])
                       or (to_members and chat_id = any(%s)))
                order by txid, id limit %s""",  # noqa: S608 (table name)
            [position[0], position[1], bounds.safe_txid, user_id, chat_ids, limit],
        )
    )
    envelopes = [event.envelope() for event in events]
    cursors = [cursor_of(event.pk, event.txid, event.resume_txid) for event in events]
    if len(events) == limit:
        return FeedPage(events=envelopes, cursor=cursors[-1], cursors=cursors)
    # Every event up to the head was readable by this query: none is skipped by moving there.
    cursor = bounds.head_cursor if bounds.head_position > position else after
    return FeedPage(events=envelopes, cursor=cursor, cursors=cursors)
