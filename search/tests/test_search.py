"""Full-text search: only the caller's chats, ranked, paged by cursor, through the GIN index."""

import pytest
from django.db import connection

from chats.services import chat_create, chat_member_remove, message_create, message_delete

pytestmark = pytest.mark.django_db


def _search(client, q, **params):
    response = client.get("/api/search/", {"q": q, **params})
    assert response.status_code == 200, response.content
    return response.json()


def test_finds_only_the_callers_chats(team, client_for, make_user):
    message_create(chat_id=team.chat.pk, author=team.owner, text="the quarterly budget is ready")
    secret = chat_create(created_by=team.outsider, title="Secret")
    message_create(chat_id=secret.pk, author=team.outsider, text="secret budget numbers")
    hits = _search(client_for(team.member), "budget")["results"]
    assert [h["text"] for h in hits] == ["the quarterly budget is ready"]
    assert hits[0]["chat_id"] == team.chat.pk
    assert "«budget»" in hits[0]["headline"]
    assert [h["text"] for h in _search(client_for(team.outsider), "budget")["results"]] == ["secret budget numbers"]


def test_a_chat_the_caller_left_is_no_longer_searched(team, client_for):
    message_create(chat_id=team.chat.pk, author=team.owner, text="launch plan draft")
    member = client_for(team.member)
    assert len(_search(member, "launch")["results"]) == 1
    chat_member_remove(chat=team.chat, user_id=team.member.pk, actor=team.member)
    assert _search(member, "launch")["results"] == []


def test_ranked_then_newest_and_deleted_messages_are_gone(team, client_for):
    weak = message_create(
        chat_id=team.chat.pk, author=team.owner, text="deploy once, then a long unrelated sentence here"
    )[0]
    strong = message_create(chat_id=team.chat.pk, author=team.owner, text="deploy deploy deploy")[0]
    gone = message_create(chat_id=team.chat.pk, author=team.owner, text="deploy this was deleted")[0]
    message_delete(message=gone, actor=team.owner)
    hits = _search(client_for(team.member), "deploy")["results"]
    assert [h["id"] for h in hits] == [strong.pk, weak.pk]
    assert hits[0]["rank"] > hits[1]["rank"]


def test_cursor_pages_cover_every_hit_once(team, client_for):
    ids = {message_create(chat_id=team.chat.pk, author=team.owner, text=f"release note {n}")[0].pk for n in range(12)}
    member = client_for(team.member)
    seen, cursor, pages = [], None, 0
    while True:
        page = _search(member, "release", limit=5, **({"cursor": cursor} if cursor else {}))
        seen += [h["id"] for h in page["results"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))


def test_bad_input_is_400(team, client_for):
    member = client_for(team.member)
    assert member.get("/api/search/").status_code == 400
    assert member.get("/api/search/", {"q": "x", "cursor": "not-a-cursor"}).status_code == 400
    assert member.get("/api/search/", {"q": "x", "limit": 1000}).status_code == 400
    # Query syntax that is not valid tsquery text is still a search, never a 500.
    assert member.get("/api/search/", {"q": '"( & | ! :* ) -'}).status_code == 200


def test_the_query_uses_the_gin_index(team):
    message_create(chat_id=team.chat.pk, author=team.owner, text="index me")
    with connection.cursor() as cursor:
        cursor.execute("set local enable_seqscan = off")
        cursor.execute(
            "explain select id from chats_message m where to_tsvector('simple', m.text)"
            " @@ websearch_to_tsquery('simple', 'index')"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "message_text_search" in plan, plan
