"""Writes of read state: a member's marker is created when they join and only moves forward."""

from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from accounts.models import User
from chats.models import Membership, Message
from core.exceptions import NotFoundError
from realtime.services import event_emit

from .models import ReadMarker

_MARKER = ReadMarker._meta.db_table
_MEMBERSHIP = Membership._meta.db_table
_MESSAGE = Message._meta.db_table

# One statement: the membership check, the upsert that moves the marker only forward, and
# the marker as it is now. `up_to` is clamped to the chat's newest message (an index
# lookup on (chat, id)), so a marker never covers messages that do not exist yet. The
# upsert's WHERE makes "not forward" a no-op that writes nothing and returns no row.
_MOVE_SQL = f"""
with member as (
    select id, chat_id, user_id from {_MEMBERSHIP} where chat_id = %(chat_id)s and user_id = %(user_id)s
),
target as (
    select member.id, member.chat_id, member.user_id,
           least(%(up_to)s, coalesce((select max(m.id) from {_MESSAGE} m where m.chat_id = member.chat_id), 0))
               as last_read_id
    from member
),
moved as (
    insert into {_MARKER} (membership_id, chat_id, user_id, last_read_id, updated_at)
    select id, chat_id, user_id, last_read_id, now() from target
    on conflict (membership_id) do update
        set last_read_id = excluded.last_read_id, updated_at = excluded.updated_at
        where {_MARKER}.last_read_id < excluded.last_read_id
    returning last_read_id
)
select (select id from member),
       (select last_read_id from moved),
       (select r.last_read_id from {_MARKER} r where r.membership_id = (select id from member))
"""  # noqa: S608 - table names only


@dataclass(frozen=True)
class ReadState:
    chat_id: int
    user_id: int
    last_read_id: int
    moved: bool


def read_marker_create(*, membership: Membership) -> None:
    """Starts a new member's marker at the chat's newest message (see reads.signals)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"insert into {_MARKER} (membership_id, chat_id, user_id, last_read_id, updated_at)"  # noqa: S608
            f" select %s, %s, %s, coalesce((select max(id) from {_MESSAGE} where chat_id = %s), 0), now()"
            " on conflict (membership_id) do nothing",
            [membership.pk, membership.chat_id, membership.user_id, membership.chat_id],
        )


def _chat_is_big(chat_id: int) -> bool:
    """More members than READS_BROADCAST_MAX_MEMBERS, counted no further than that."""
    limit = settings.READS_BROADCAST_MAX_MEMBERS
    with connection.cursor() as cursor:
        cursor.execute(
            f"select count(*) from (select 1 from {_MEMBERSHIP} where chat_id = %s limit %s) m",  # noqa: S608
            [chat_id, limit + 1],
        )
        return cursor.fetchone()[0] > limit


@transaction.atomic
def read_marker_move(*, chat_id: int, user: User, up_to: int) -> ReadState:
    """Moves the caller's marker in the chat forward to `up_to` (never back, never past the
    newest message); a chat they are not in is not found.

    A move is the event `read.updated`: the reader's other tabs clear their badge, and in a
    chat of at most READS_BROADCAST_MAX_MEMBERS the members see "seen" / "read by N". In a
    bigger chat it goes to the reader only: a read receipt fanned out to 10,000 members for
    every member's every read costs far more than it tells.
    """
    with connection.cursor() as cursor:
        cursor.execute(_MOVE_SQL, {"chat_id": chat_id, "user_id": user.pk, "up_to": up_to})
        membership_id, moved_to, current = cursor.fetchone()
    if membership_id is None:
        raise NotFoundError("Chat not found.")
    state = ReadState(
        chat_id=chat_id,
        user_id=user.pk,
        last_read_id=moved_to if moved_to is not None else current or 0,
        moved=moved_to is not None,
    )
    if state.moved:
        data = {"chat_id": chat_id, "user_id": user.pk, "last_read_id": state.last_read_id}
        _read_event_emit(chat_id=chat_id, reader_id=user.pk, data=data)
    return state


def _read_event_emit(*, chat_id: int, reader_id: int, data: dict) -> None:
    if _chat_is_big(chat_id):
        event_emit(type="read.updated", chat_id=chat_id, data=data, to_members=False, also_to=[reader_id])
    else:
        event_emit(type="read.updated", chat_id=chat_id, data=data)
