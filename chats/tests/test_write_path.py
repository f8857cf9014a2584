"""The hot path's costs and guarantees: statements per request, writes of one chat never
waiting for another's, and a feed cursor that never skips an event committing late."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from django.db import connection, transaction

from chats.models import Chat
from chats.representations import chat_data
from chats.services import message_create
from realtime.selectors import event_feed
from realtime.services import event_emit

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_message_post_is_two_statements(team, client_for, django_assert_num_queries):
    client = client_for(team.member)
    url = f"/api/chats/{team.chat.pk}/messages/"
    # The token; one statement: membership, message, chat activity, event, outbox; then,
    # after its commit, the wake-ups (realtime.services.wake_after_commit).
    with django_assert_num_queries(3):
        response = client.post(url, {"text": "fast", "client_id": "c-1"}, format="json")
    assert response.status_code == 201
    # The token is now known (accounts.token_cache): a retry with the same client_id is the
    # same statement, which inserts nothing (and wakes nobody), then the first message is read.
    with django_assert_num_queries(2):
        again = client.post(url, {"text": "fast", "client_id": "c-1"}, format="json")
    assert again.status_code == 200 and again.json() == response.json()
    # And the next message is that one statement and its wake-ups.
    with django_assert_num_queries(2) as queries:
        assert client.post(url, {"text": "faster"}, format="json").status_code == 201
    assert "pg_notify" in queries.captured_queries[-1]["sql"]
    # Not a member: the same one statement says so.
    outsider = client_for(team.outsider)
    with django_assert_num_queries(2):
        assert outsider.post(url, {"text": "no"}, format="json").status_code == 404


def test_a_message_moves_its_chats_activity_in_a_hot_update(team):
    """The chat row's `last_activity_at` moves with every message; no index holds the column,
    so PostgreSQL updates the row in place (HOT): no new entry in the table's indexes."""
    with transaction.atomic(), connection.cursor() as cursor:
        for text in ("one", "two", "three"):
            message_create(chat_id=team.chat.pk, author=team.member, text=text)
        cursor.execute(
            "select pg_stat_get_xact_tuples_updated(%(chat)s::regclass),"
            " pg_stat_get_xact_tuples_hot_updated(%(chat)s::regclass)",
            {"chat": Chat._meta.db_table},
        )
        updated, hot = cursor.fetchone()
    assert updated == 3
    assert hot == 3


@pytest.mark.parametrize(
    ("path", "statements"),
    [
        ("/api/chats/", 2),  # token, chats
        ("/api/chats/{chat}/messages/", 4),  # token, membership, page, "has older"
        ("/api/chats/{chat}/members/", 3),  # token, membership, members with users
        ("/api/realtime/token/", 1),
        ("/api/realtime/subscription-token/?channel=chat:{chat}", 2),  # token, membership
        ("/api/updates/?after=0", 5),  # token, chats, bounds, head, events
    ],
)
def test_statements_per_read(team, client_for, django_assert_max_num_queries, path, statements):
    client = client_for(team.member)
    with django_assert_max_num_queries(statements):
        response = client.get(path.format(chat=team.chat.pk))
    assert response.status_code == 200, response.content


def _in_thread(work: Callable[[], object]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@contextmanager
def _open_transaction(work: Callable[[], object]) -> Iterator[threading.Event]:
    """Runs `work` in a transaction on another connection and keeps it open until the
    block ends; yields once `work` has run."""
    done, release = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction.atomic():
            work()
            done.set()
            release.wait(timeout=30)

    thread = _in_thread(hold)
    assert done.wait(timeout=10), "the held transaction did not start"
    try:
        yield release
    finally:
        release.set()
        thread.join(timeout=10)


def test_a_write_to_one_chat_never_waits_for_another_chat(team, make_user):
    from chats.services import chat_create, chat_member_add

    other = chat_create(created_by=team.owner, title="B")
    newcomer = make_user()

    committed = threading.Event()

    def post_to_b() -> None:
        message_create(chat_id=other.pk, author=team.owner, text="to B")
        committed.set()

    # Chat A has a message and a membership change open (its chat row locked) meanwhile.
    def busy_with_a() -> None:
        message_create(chat_id=team.chat.pk, author=team.member, text="to A, not committed")
        chat_member_add(chat=team.chat, user=newcomer, added_by=team.owner)

    with _open_transaction(busy_with_a):
        _in_thread(post_to_b)
        assert committed.wait(timeout=5), "a message to chat B waited for chat A's transaction"


def test_an_event_committing_after_a_higher_id_is_not_skipped(team):
    member = team.member.pk
    start = event_feed(user_id=member, chat_ids=[team.chat.pk], after=None).cursor

    def emit(text: str) -> Callable[[], object]:
        # A well-formed chat.updated (every test's events are checked against the contract).
        data = chat_data(team.chat) | {"title": text}
        return lambda: event_emit(type="chat.updated", chat_id=team.chat.pk, data=data)

    with _open_transaction(emit("first, commits last")):
        later = _in_thread(lambda: transaction.atomic(emit("second, commits first"))())
        later.join(timeout=60)
        assert not later.is_alive(), "the second transaction did not commit"
        # The second event has committed with the higher id; the first is still open.
        page = event_feed(user_id=member, chat_ids=[team.chat.pk], after=start)
        assert page.events == [] and page.cursor == start, "the cursor moved past an open event"
    page = event_feed(user_id=member, chat_ids=[team.chat.pk], after=start)
    assert [event["data"]["title"] for event in page.events] == ["first, commits last", "second, commits first"]
    assert page.events[0]["id"] < page.events[1]["id"]


def test_a_chat_id_past_bigint_is_not_found(team, client_for):
    response = client_for(team.member).post(f"/api/chats/{2**63}/messages/", {"text": "x"}, format="json")
    assert response.status_code == 404 and response.json()["message"] == "Chat not found."


def test_the_message_insert_is_prepared_on_its_connection(team, settings, django_capture_on_commit_callbacks):
    """PostgreSQL parses and plans the POST's statements (the insert, then the wake-ups
    after commit) once per connection, not per POST."""

    def prepared(pattern: str = "%new_message%") -> int:
        with connection.cursor() as cursor:
            cursor.execute("select count(*) from pg_prepared_statements where statement like %s", [pattern])
            return cursor.fetchone()[0]

    assert settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"] is not None
    with django_capture_on_commit_callbacks(execute=True):
        for text in ("one", "two", "three"):
            message_create(chat_id=team.chat.pk, author=team.member, text=text)
    assert prepared() == 1
    assert prepared("%pg_notify%") == 1
    # Behind a transaction pooler (DB_BEHIND_TRANSACTION_POOLER) the threshold is None:
    # nothing is prepared, the statement still runs.
    options = connection.settings_dict["OPTIONS"]
    connection.close()
    connection.settings_dict["OPTIONS"] = options | {"prepare_threshold": None}
    try:
        for text in ("four", "five", "six"):
            message_create(chat_id=team.chat.pk, author=team.member, text=text)
        assert prepared() == 0
    finally:
        connection.close()
        connection.settings_dict["OPTIONS"] = options
