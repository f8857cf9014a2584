"""Full-text search over the messages of the caller's chats (PostgreSQL, `simple` config).

Ranked by ts_rank, newest first among equals, paginated by a cursor (rank, id) that a
client sends back opaque. Only chats the caller is a member of *now* are searched: one who
left no longer finds that chat's messages.
"""

import base64
import json
from dataclasses import dataclass

from django.db import connection

from accounts.models import User
from chats.models import Membership, Message
from core.exceptions import ApplicationError

# Must be the index's expression (search/migrations/0001) for the index to be used.
_VECTOR = "to_tsvector('simple', m.text)"

_SQL = f"""
select m.id, m.chat_id, m.author_id, u.username, m.text, m.created_at, m.edited_at,
       ts_rank({_VECTOR}, q)::float8 as rank,
       ts_headline('simple', m.text, q, 'StartSel=«, StopSel=», MaxFragments=2, MaxWords=20, MinWords=5')
from {Message._meta.db_table} m
join {Membership._meta.db_table} mb on mb.chat_id = m.chat_id and mb.user_id = %(user_id)s
left join accounts_user u on u.id = m.author_id,
     websearch_to_tsquery('simple', %(q)s) q
where {_VECTOR} @@ q and m.deleted_at is null {{after}}
order by rank desc, m.id desc
limit %(limit)s
"""  # noqa: S608 - table names only


@dataclass(frozen=True)
class SearchHit:
    id: int
    chat_id: int
    author: dict | None
    text: str
    created_at: str
    edited_at: str | None
    rank: float
    headline: str


def _cursor_encode(rank: float, message_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([rank, message_id]).encode()).decode()


def _cursor_decode(cursor: str) -> tuple[float, int]:
    try:
        rank, message_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return float(rank), int(message_id)
    except (ValueError, TypeError) as exc:
        raise ApplicationError("Bad cursor.", extra={"fields": {"cursor": ["Not a cursor from this API."]}}) from exc


def message_search(
    *, user: User, q: str, cursor: str | None = None, limit: int = 20
) -> tuple[list[SearchHit], str | None]:
    """A page of hits and the cursor of the next page (None: this is the last)."""
    params: dict = {"user_id": user.pk, "q": q, "limit": limit + 1}
    after = ""
    if cursor:
        params["rank"], params["after_id"] = _cursor_decode(cursor)
        after = "and (ts_rank(" + _VECTOR + ", q)::float8, m.id) < (%(rank)s, %(after_id)s)"
    with connection.cursor() as db:
        db.execute(_SQL.replace("{after}", after), params)
        rows = db.fetchall()
    hits = [
        SearchHit(
            id=row[0],
            chat_id=row[1],
            author={"id": row[2], "username": row[3]} if row[2] is not None else None,
            text=row[4],
            created_at=row[5].isoformat(),
            edited_at=row[6].isoformat() if row[6] else None,
            rank=row[7],
            headline=row[8],
        )
        for row in rows[:limit]
    ]
    next_cursor = _cursor_encode(hits[-1].rank, hits[-1].id) if len(rows) > limit else None
    return hits, next_cursor
