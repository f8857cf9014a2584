"""Reads of read state: unread and mention counts for the chat list, markers of a chat.

The counts cost what the reader has unread, never what the chat holds: for each chat, an
index range scan on messages (chat, id) above the marker, newest first, stopping after
READS_COUNT_CAP rows. A chat of 10,000 members and a million messages costs the same as a
chat of two with as many unread. Past the cap the count is a lower bound (`unread_more`);
a mention older than the newest READS_COUNT_CAP unread messages is not counted.
Counting at read time (not counters kept by every write) keeps the message write at one
statement and is exact under concurrent posts: it counts what has committed.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from accounts.models import User
from chats.models import Chat, Membership, Message
from core.exceptions import NotFoundError

from .mentions import mention_sql_pattern
from .models import ReadMarker

# Per membership `mb` (with its marker `r`): the newest READS_COUNT_CAP messages above the
# marker, of which those by others are unread and those naming the caller are mentions.
_COUNTS_LATERAL = f"""
cross join lateral (
    select count(*) filter (where x.mine is false) as unread,
           count(*) filter (where x.mine is false and x.text ~* %(pattern)s) as mentions,
           count(*) as scanned
    from (
        select m.author_id is not distinct from mb.user_id as mine, m.text
        from {Message._meta.db_table} m
        where m.chat_id = mb.chat_id and m.id > coalesce(r.last_read_id, 0) and m.deleted_at is null
        order by m.id desc
        limit %(cap)s
    ) x
) n
"""  # noqa: S608 - table names only

_COUNTS_SQL = f"""
select mb.chat_id, coalesce(r.last_read_id, 0), n.unread, n.mentions, n.scanned
from {Membership._meta.db_table} mb
left join {ReadMarker._meta.db_table} r on r.membership_id = mb.id
{_COUNTS_LATERAL}
where mb.user_id = %(user_id)s
"""  # noqa: S608 - table names only


@dataclass(frozen=True)
class ChatReadState:
    chat_id: int
    last_read_id: int
    unread_count: int
    mention_count: int
    # More unread messages than were counted (the count is READS_COUNT_CAP's lower bound).
    unread_more: bool


def chat_read_states(*, user: User, chat_ids: list[int] | None = None) -> dict[int, ChatReadState]:
    """The user's read state of each of their chats (or of `chat_ids` among them): one query."""
    sql = _COUNTS_SQL
    params = {"pattern": mention_sql_pattern(user.get_username()), "cap": settings.READS_COUNT_CAP, "user_id": user.pk}
    if chat_ids is not None:
        sql += " and mb.chat_id = any(%(chat_ids)s)"
        params["chat_ids"] = list(chat_ids)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {
        chat_id: ChatReadState(
            chat_id=chat_id,
            last_read_id=last_read_id,
            unread_count=unread,
            mention_count=mentions,
            unread_more=scanned >= settings.READS_COUNT_CAP,
        )
        for chat_id, last_read_id, unread, mentions, scanned in rows
    }


def chat_read_state_get(*, user: User, chat_id: int) -> ChatReadState:
    state = chat_read_states(user=user, chat_ids=[chat_id]).get(chat_id)
    if state is None:
        raise NotFoundError("Chat not found.")
    return state


def read_marker_list(*, chat_id: int, user: User) -> list[dict[str, int]]:
    """Every member's marker in a chat the caller is in: what "seen" and "read by N" are
    computed from on the page (the member list is loaded in full anyway)."""
    if not Membership.objects.filter(chat_id=chat_id, user=user).exists():
        raise NotFoundError("Chat not found.")
    return list(ReadMarker.objects.filter(chat_id=chat_id).order_by("user_id").values("user_id", "last_read_id"))


def message_read_count(*, chat_id: int, message_id: int, author_id: int | None) -> int:
    """How many members other than the author have read up to the message: one range count
    on (chat, last_read_id)."""
    return ReadMarker.objects.filter(chat_id=chat_id, last_read_id__gte=message_id).exclude(user_id=author_id).count()


_CHAT_LIST_SQL = f"""
select c.*, coalesce(r.last_read_id, 0) as last_read_id, n.unread, n.mentions, n.scanned
from {Membership._meta.db_table} mb
join {Chat._meta.db_table} c on c.id = mb.chat_id
left join {ReadMarker._meta.db_table} r on r.membership_id = mb.id
{_COUNTS_LATERAL}
where mb.user_id = %(user_id)s
order by c.last_activity_at desc, c.id desc
limit %(limit)s offset %(offset)s
"""  # noqa: S608 - table names only


def chat_list_with_read_state(*, user: User, limit: int, offset: int) -> tuple[list[dict], int | None]:
    """A page of the user's chats, newest activity first, each with the caller's read state
    of it, in one query; and the offset of the next page (None: the last one)."""
    from chats.representations import chat_data

    cap = settings.READS_COUNT_CAP
    params = {
        "pattern": mention_sql_pattern(user.get_username()),
        "cap": cap,
        "user_id": user.pk,
        "limit": limit + 1,  # one more tells whether another page follows
        "offset": offset,
    }
    chats = list(Chat.objects.raw(_CHAT_LIST_SQL, params))
    page = [
        chat_data(chat)
        | {
            "last_read_id": chat.last_read_id,
            "unread_count": chat.unread,
            "mention_count": chat.mentions,
            "unread_more": chat.scanned >= cap,
        }
        for chat in chats[:limit]
    ]
    return page, (offset + limit if len(chats) > limit else None)
