"""Group commit: the one-statement writes of a process's concurrent requests, committed in
one transaction.

A message POST ends in one statement run in autocommit (`chats.services.message_create`),
then its commit: about a millisecond, most of it the WAL flush, in which the process's other
threads reach the same point (at 8 and 32 connections a thread found 0.8–1.15 others already
in theirs, docs/performance.md). Here the first thread to arrive, the leader, runs its own
statement and those of the threads waiting behind it in one transaction, sent as one psycopg
pipeline (BEGIN, the statements, COMMIT), then `after_commit` once for them all. Each thread
gets its row back only after that COMMIT: its write is as durable as it was on its own. The
others answer as soon as it has committed; the leader alone waits for `after_commit`.
Threads arriving meanwhile queue; the first of them leads the next transaction. A thread
that finds nobody ahead runs its statement alone, as before (`python -m bench commit-batch`
measures what batches save).

Two rules keep one write from waiting on another's business:
- statements run in `order` (a chat id), so two transactions lock rows in one order and
  cannot deadlock each other;
- a transaction of several waits at most LOCK_TIMEOUT for any lock: a row held by some other
  transaction fails it at once, instead of holding up writes to other rows.
A transaction of several that PostgreSQL refuses committed nothing, and every statement then
runs again alone, in its own thread, where an error is only its own. One whose connection
broke may or may not have committed: its writes are not run again, and each answers with the
error (503), as a write alone would.

Inside a transaction (`atomic`) nothing is batched: the statement runs in it and
`after_commit` waits for its commit. Behind a transaction pooler (DB_BEHIND_TRANSACTION_POOLER,
the cluster profile's PgBouncer) nothing is batched either: pipelines through it are not
tested here. Writes committed together share their transaction's
local settings too: a statement that sets one (the message statement's
`messenger.notify_after_commit`, which silences the event triggers' NOTIFY) sets it for the
others, so every write here must do its waking through `after_commit`.
"""

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.db.backends.postgresql import base
from psycopg import pq

from core.metrics import GROUP_COMMIT_FALLBACKS, GROUP_COMMIT_WAIT_SECONDS, GROUP_COMMIT_WRITES

logger = logging.getLogger(__name__)

# How long a transaction of several writes waits for a lock another transaction holds
# before it gives up and each write goes on alone (only then waiting as long as it takes).
LOCK_TIMEOUT = "50ms"
_LOCK_TIMEOUT = f"set local lock_timeout = '{LOCK_TIMEOUT}'"

Row = tuple[Any, ...]


@dataclass(eq=False)
class _Write:
    sql: str
    params: Mapping[str, Any]
    order: int
    after_commit: Callable[[], None]
    wrote: Callable[[Row], bool]
    woken: threading.Event = field(default_factory=threading.Event)
    leads: bool = False
    row: Row | None = None
    failed: bool = False  # its transaction did not commit: run it again alone
    error: BaseException | None = None  # the connection broke: whether it committed is unknown


_lock = threading.Lock()
_waiting: list[_Write] = []
_leader_busy = False


def write(
    sql: str, params: Mapping[str, Any], *, order: int, after_commit: Callable[[], None], wrote: Callable[[Row], bool]
) -> Row:
    """Runs `sql`, one statement returning one row, and returns that row once committed;
    `after_commit` runs after the commit when `wrote(row)`: once for all the writes of a
    transaction that name the same `after_commit` (a message's wake-ups)."""
    global _leader_busy
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.in_atomic_block:
        row = _execute(connection, sql, params)
        if wrote(row):
            transaction.on_commit(after_commit, robust=True)
        return row
    if settings.DB_BEHIND_TRANSACTION_POOLER:
        return _alone(connection, sql, params, after_commit, wrote)
    mine = _Write(sql, params, order, after_commit, wrote)
    with _lock:
        _waiting.append(mine)
        if not _leader_busy:
            _leader_busy = mine.leads = True
    if not mine.leads:
        queued = time.perf_counter()
        mine.woken.wait()  # committed, failed, or this thread now leads
        GROUP_COMMIT_WAIT_SECONDS.observe(time.perf_counter() - queued)
    if mine.leads:
        _lead(connection, mine)
    if mine.error is not None:
        raise mine.error
    if mine.failed or mine.row is None:
        return _alone(connection, sql, params, after_commit, wrote)
    return mine.row


def _alone(
    connection: Any, sql: str, params: Mapping[str, Any], after_commit: Callable[[], None], wrote: Callable[[Row], bool]
) -> Row:
    row = _execute(connection, sql, params)
    GROUP_COMMIT_WRITES.observe(1)
    if wrote(row):
        _after_commit(after_commit)
    return row


def _lead(connection: Any, mine: _Write) -> None:
    """Commits every waiting write (this thread's first among them), then hands over."""
    global _leader_busy
    with _lock:
        batch = _waiting[:]
        _waiting.clear()
    followers = [each for each in batch if each is not mine]
    try:
        if len(batch) == 1:
            mine.row = _execute(connection, mine.sql, mine.params)
        else:
            _commit_together(connection, batch)
        committed = [each for each in batch if not each.failed and each.error is None]
        # The others answer now: their rows are committed (or they run again alone), and
        # what `after_commit` does (a round trip: the wake-ups) is not theirs to wait for.
        _wake(followers)
        if committed:
            GROUP_COMMIT_WRITES.observe(len(committed))
        for after_commit in {each.after_commit: None for each in committed if each.wrote(each.row)}:
            _after_commit(after_commit)
    except BaseException as error:
        for each in followers:
            if not each.woken.is_set() and each.row is None and not each.failed:
                each.error = error
        raise
    finally:
        with _lock:
            if _waiting:
                _waiting[0].leads = True
                _waiting[0].woken.set()
            else:
                _leader_busy = False
        _wake(followers)  # those a failure left waiting; setting an Event twice changes nothing


def _wake(writes: list[_Write]) -> None:
    for each in writes:
        each.woken.set()


def _commit_together(connection: Any, batch: list[_Write]) -> None:
    """BEGIN, the statements in order, COMMIT: one round trip. When PostgreSQL refuses a
    statement, the transaction is rolled back and every write is marked to run again alone;
    when the connection breaks, whether the COMMIT happened is unknown, so nothing runs
    again (each request answers with the error, 503, as it would have alone)."""
    batch.sort(key=lambda each: each.order)
    try:
        with connection.wrap_database_errors:
            connection.close_if_health_check_failed()
            connection.ensure_connection()
            raw = connection.connection
            control, cursors = raw.cursor(), [base.ServerBindingCursor(raw) for _ in batch]
            try:
                with raw.pipeline():
                    control.execute("begin")
                    control.execute(_LOCK_TIMEOUT)
                    for cursor, each in zip(cursors, batch, strict=True):
                        cursor.execute(each.sql, each.params)
                    control.execute("commit")
                for cursor, each in zip(cursors, batch, strict=True):
                    each.row = cursor.fetchone()
            finally:
                for cursor in (control, *cursors):
                    cursor.close()
    except DatabaseError as error:
        if not _rolled_back(connection):
            for each in batch:
                each.error, each.row = error, None
            return
        GROUP_COMMIT_FALLBACKS.inc()
        # A lock held elsewhere (LOCK_TIMEOUT) or one bad statement: expected, not worth a warning.
        logger.debug("group commit: a transaction of %d writes failed; each runs alone", len(batch), exc_info=True)
        for each in batch:
            each.failed, each.row = True, None


_STILL_OPEN = (pq.TransactionStatus.INERROR, pq.TransactionStatus.INTRANS)


def _rolled_back(connection: Any) -> bool:
    """Whether the failed transaction is known not to have committed (and is now rolled
    back): the connection is open and the transaction still is (PostgreSQL refused a
    statement, or psycopg refused a parameter before the COMMIT was sent)."""
    raw = connection.connection
    if raw is None or raw.closed or raw.info.transaction_status not in _STILL_OPEN:
        return False
    try:
        raw.execute("rollback")
    except Exception:  # broke meanwhile: the pool discards it when it goes back
        logger.warning("group commit: rollback failed", exc_info=True)
    return True


def _execute(connection: Any, sql: str, params: Mapping[str, Any]) -> Row:
    with connection.prepared_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _after_commit(after_commit: Callable[[], None]) -> None:
    """As `transaction.on_commit(..., robust=True)` would: a failure is logged, not raised
    (the write is committed; its answer must not say otherwise)."""
    try:
        after_commit()
    except Exception:
        logger.exception("group commit: after_commit failed")
