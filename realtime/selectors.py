"""Reads of the event log: a user's feed after a cursor.

The cursor is an event id. Ids are assigned in commit order (see `event_emit`), so "every
event with an id above the cursor" never skips an event that commits later.
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


def event_log_bounds() -> tuple[int, int]:
    """(horizon, head): the highest pruned event id, below which a cursor may have missed
    events, and the newest committed event id (the horizon when the log is empty)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"select (select max(pruned_through) from {EventLogPrune._meta.db_table}),"  # noqa: S608 (table names)
            f" (select max(id) from {Event._meta.db_table})"
        )
        horizon, head = cursor.fetchone()
    horizon = horizon or 0
    return horizon, head if head is not None else horizon


def event_cursor_check(*, after: int, horizon: int, head: int) -> None:
    """Raises CursorGoneError unless every event after `after` is still in the log."""
    if after < horizon:
        raise CursorGoneError(
            "This cursor is older than the event log keeps: events after it were deleted. "
            "Reload the chats and messages, then ask for the feed without a cursor.",
            extra={"cursor": after, "oldest_cursor": horizon},
        )
    if after > head:
        raise CursorGoneError(
            "This cursor is newer than any event: it does not come from this server's event log. "
            "Reload the chats and messages, then ask for the feed without a cursor.",
            extra={"cursor": after, "newest_cursor": head},
        )


def event_feed(*, user_id: int, after: int | None, limit: int = FEED_PAGE_SIZE) -> FeedPage:
    """The user's events after the cursor, oldest first, at most `limit` of them.

    Without a cursor: no events and the current head, the cursor to start from after the
    client has loaded its state over REST.
    """
    # The head is read before the events: an event committed in between is either in the
    # answer or above the returned cursor, never skipped.
    horizon, head = event_log_bounds()
    if after is None:
        return FeedPage(events=[], cursor=head)
    event_cursor_check(after=after, horizon=horizon, head=head)
    events = list(Event.objects.filter(id__gt=after, recipient_ids__contains=[user_id]).order_by("id")[:limit])
    if len(events) == limit:
        return FeedPage(events=[event.envelope() for event in events], cursor=events[-1].pk)
    last = events[-1].pk if events else after
    return FeedPage(events=[event.envelope() for event in events], cursor=max(head, last))
