"""The hot path's costs and guarantees: statements per request, writes of one chat never
waiting for another's, and a feed cursor that never skips an event committing late."""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from django.db import DataError, ProgrammingError, connection, transaction
from prometheus_client import REGISTRY

from chats.models import Chat, Message
from chats.representations import chat_data
from chats.services import message_create
from core.postgresql import group_commit
from realtime.models import Event
from realtime.selectors import event_feed
from realtime.services import event_emit

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_message_post_is_two_statements(team, client_for, django_assert_num_queries):
    client = client_for(team.member)
    url = f"/api/chats/{team.chat.pk}/messages/"
    # The token; one statement: membership, message, chat activity, event, outbox; then,
    # after its commit, the wake-ups (realtime.services.wake_up).
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
    counts = (
        "select pg_stat_get_xact_tuples_updated(%(chat)s::regclass),"
        " pg_stat_get_xact_tuples_hot_updated(%(chat)s::regclass)"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # The backend's counts not yet reported (earlier transactions' too), then again.
        cursor.execute(counts, {"chat": Chat._meta.db_table})
        updated_before, hot_before = cursor.fetchone()
        for text in ("one", "two", "three"):
            message_create(chat_id=team.chat.pk, author=team.member, text=text)
        cursor.execute(counts, {"chat": Chat._meta.db_table})
        updated, hot = cursor.fetchone()
    assert updated - updated_before == 3
    assert hot - hot_before == 3


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


def test_the_message_statement_takes_scalar_parameters_only(team):
    """psycopg adapts a list parameter in Python, element by element, and a string or a
    number in C: the statement's lists (the outbox commands, `also_to`) go as one JSON text
    and an array literal (about 0.1 ms of a POST's CPU, `python -m bench commit-batch`)."""
    from django.utils import timezone

    from chats.services import message_insert_statement

    message = Message(chat_id=team.chat.pk, author=team.member, text="hi", created_at=timezone.now())
    _, params = message_insert_statement(message)
    assert not [name for name, value in params.items() if isinstance(value, list | tuple)]


class _Writes:
    """Threads posting messages while a slow write leads group commit's transaction, so that
    they queue behind it and are committed together (core.postgresql.group_commit)."""

    def __init__(self) -> None:
        self.results: dict[str, object] = {}
        self.threads: list[threading.Thread] = []

    def lead_slowly(self, seconds: float = 0.5) -> None:
        sql = "select pg_sleep(%(seconds)s), 1"
        self._start("leader", lambda: group_commit.write(sql, {"seconds": seconds}, **_NO_WAKE))
        _wait_for(lambda: group_commit._leader_busy, "the slow write did not start leading")

    def post(self, name: str, work: Callable[[], object]) -> None:
        queued = len(group_commit._waiting)
        self._start(name, work)
        _wait_for(lambda: len(group_commit._waiting) == queued + 1, f"{name} did not queue")

    def results_when_done(self) -> dict[str, object]:
        for thread in self.threads:
            thread.join(timeout=30)
            assert not thread.is_alive()
        return self.results

    def _start(self, name: str, work: Callable[[], object]) -> None:
        def run() -> None:
            try:
                self.results[name] = work()
            except Exception as error:  # noqa: BLE001 - the test inspects it
                self.results[name] = error

        self.threads.append(_in_thread(run))


_NO_WAKE = {"order": 0, "after_commit": lambda: None, "wrote": lambda row: False}


def _wait_for(condition: Callable[[], bool], message: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.005)


def _transaction_of(message_id: int) -> int:
    return Event.objects.get(type="message.created", data__id=message_id).txid


def _group_commit_figures() -> tuple[float, float, float]:
    """Transactions, writes and fallbacks so far (core.metrics)."""
    value = REGISTRY.get_sample_value
    return (
        value("messenger_group_commit_writes_count") or 0,
        value("messenger_group_commit_writes_sum") or 0,
        value("messenger_group_commit_fallbacks_total") or 0,
    )


def _group_commit_waits() -> tuple[float, float]:
    """Writes that waited behind a running transaction so far, and their seconds (core.metrics)."""
    value = REGISTRY.get_sample_value
    return (
        value("messenger_group_commit_wait_seconds_count") or 0,
        value("messenger_group_commit_wait_seconds_sum") or 0,
    )


def test_messages_posted_together_commit_in_one_transaction_each_once(team, make_user):
    from chats.services import chat_create

    other = chat_create(created_by=team.owner, title="B")
    before = _group_commit_figures()
    waits_before = _group_commit_waits()
    writes = _Writes()
    writes.lead_slowly()
    writes.post("a1", lambda: message_create(chat_id=team.chat.pk, author=team.member, text="a1")[0])
    writes.post("b", lambda: message_create(chat_id=other.pk, author=team.owner, text="b")[0])
    writes.post("a2", lambda: message_create(chat_id=team.chat.pk, author=team.owner, text="a2")[0])
    results = writes.results_when_done()

    messages = [results[name] for name in ("a1", "b", "a2")]
    assert all(isinstance(message, Message) for message in messages), results
    assert len({_transaction_of(message.pk) for message in messages}) == 1
    assert Message.objects.filter(text__in=["a1", "b", "a2"]).count() == 3
    # Within a chat the queue's order is kept: a1 took the lower id.
    assert messages[0].pk < messages[2].pk
    # The metrics say so: the slow write alone, then the three together.
    transactions, writes_, fallbacks = (now - then for now, then in zip(_group_commit_figures(), before, strict=True))
    assert (transactions, writes_, fallbacks) == (2, 4, 0)
    # The three waited behind the slow write's half second; the slow write waited for nobody.
    waited, seconds = (now - then for now, then in zip(_group_commit_waits(), waits_before, strict=True))
    assert waited == 3 and seconds > 3 * 0.3, (waited, seconds)


@pytest.mark.parametrize(
    ("sql", "params", "error"),
    [
        ("select 1 / 0", {}, DataError),  # PostgreSQL refuses it
        ("select %(value)s", {"value": object()}, ProgrammingError),  # psycopg refuses it, after BEGIN
    ],
)
def test_a_write_that_fails_fails_alone_and_the_others_commit_on_their_own(team, sql, params, error):
    fallbacks = _group_commit_figures()[2]
    writes = _Writes()
    writes.lead_slowly()
    writes.post("one", lambda: message_create(chat_id=team.chat.pk, author=team.member, text="one")[0])
    writes.post("broken", lambda: group_commit.write(sql, params, **_NO_WAKE))
    writes.post("two", lambda: message_create(chat_id=team.chat.pk, author=team.owner, text="two")[0])
    results = writes.results_when_done()

    assert isinstance(results["broken"], error), results
    one, two = results["one"], results["two"]
    assert isinstance(one, Message) and isinstance(two, Message), results
    assert _transaction_of(one.pk) != _transaction_of(two.pk)
    assert Message.objects.filter(text__in=["one", "two"]).count() == 2
    assert _group_commit_figures()[2] == fallbacks + 1


def test_a_write_in_a_transaction_of_several_never_waits_for_a_chat_locked_elsewhere(team):
    from chats.services import chat_create

    busy = chat_create(created_by=team.owner, title="busy")
    committed = threading.Event()

    with _open_transaction(lambda: Chat.objects.select_for_update().get(pk=busy.pk)):
        writes = _Writes()
        writes.lead_slowly(0.2)
        writes.post("busy", lambda: message_create(chat_id=busy.pk, author=team.owner, text="waits")[0])

        def quiet() -> Message:
            message = message_create(chat_id=team.chat.pk, author=team.member, text="quiet")[0]
            committed.set()
            return message

        writes.post("quiet", quiet)
        assert committed.wait(timeout=5), "a message to a quiet chat waited for another chat's lock"
        assert not Message.objects.filter(text="waits").exists()
    results = writes.results_when_done()
    assert isinstance(results["busy"], Message), results


def test_after_commit_runs_once_per_transaction_for_each_kind_of_write(transactional_db):
    woken: list[str] = []
    first = {"order": 0, "after_commit": lambda: woken.append("first"), "wrote": lambda row: True}
    second = {"order": 0, "after_commit": lambda: woken.append("second"), "wrote": lambda row: True}
    writes = _Writes()
    writes.lead_slowly(0.2)
    for name, kind in (("1", first), ("2", first), ("3", second), ("4", _NO_WAKE)):
        writes.post(name, lambda kind=kind: group_commit.write("select txid_current()", {}, **kind))
    results = writes.results_when_done()
    assert len({results[name] for name in "1234"}) == 1, results  # one transaction
    assert sorted(woken) == ["first", "second"]


def test_the_others_in_a_transaction_answer_without_waiting_for_its_after_commit(transactional_db):
    """The leader runs `after_commit` (a message's wake-ups: a round trip of its own) once
    the transaction has committed; the writes committed with it answer meanwhile."""
    release = threading.Event()
    blocking = {"order": 0, "after_commit": lambda: release.wait(timeout=10), "wrote": lambda row: True}
    writes = _Writes()
    writes.lead_slowly(0.2)
    writes.post("leads", lambda: group_commit.write("select txid_current()", {}, **blocking))
    writes.post("follows", lambda: group_commit.write("select txid_current()", {}, **_NO_WAKE))
    try:
        _wait_for(lambda: "follows" in writes.results, "a follower waited for its leader's after_commit")
        assert "leads" not in writes.results
    finally:
        release.set()
    results = writes.results_when_done()
    assert results["leads"] == results["follows"], results  # one transaction


def test_behind_a_transaction_pooler_each_message_commits_alone(team, settings):
    settings.DB_BEHIND_TRANSACTION_POOLER = True
    slow = _in_thread(lambda: group_commit.write("select pg_sleep(3), 1", {}, **_NO_WAKE))

    def sleeping() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("select count(*) from pg_stat_activity where query like 'select pg_sleep(3)%%'")
            return cursor.fetchone()[0] == 1

    try:
        _wait_for(sleeping, "the slow write did not start")
        message = message_create(chat_id=team.chat.pk, author=team.member, text="alone")[0]
        # Committed while the slow write still runs: it did not queue behind it.
        assert slow.is_alive()
        assert not group_commit._leader_busy and not group_commit._waiting
        assert Message.objects.filter(pk=message.pk).exists()
    finally:
        slow.join(timeout=10)
