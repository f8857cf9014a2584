"""One PostgreSQL LISTEN connection per process wakes every waiting long-poll and SSE client.

A trigger NOTIFYs `realtime_events` when an event row commits (migration 0002). The
listener then reads the new rows once, on that same connection, keeps the newest events
in memory, and wakes only the waiters of their recipients. A waiting client holds an
`asyncio.Event`: no thread and no database connection. A woken client whose cursor is in
memory is answered without a query; an older cursor goes to the database (`event_feed`).

The NOTIFY payload is only a nudge: the listener always reads "every event above the
last one I have", so a lost notification or a reconnect loses nothing.
"""

import asyncio
import bisect
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import psycopg
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections

from .events import EventEnvelope
from .models import Event, EventLogPrune

logger = logging.getLogger(__name__)

CHANNEL = "realtime_events"
# Without a notification for this long the listener reads the log anyway: it checks its
# connection and would catch an event whose NOTIFY was lost.
IDLE_READ_SECONDS = 30.0
# Rows per read when catching up after a reconnect.
READ_BATCH = 1000
RECONNECT_DELAY_MIN, RECONNECT_DELAY_MAX = 0.5, 10.0


def envelope_json(envelope: EventEnvelope) -> str:
    """The wire form of an event, the same for long polling and SSE."""
    return json.dumps(envelope, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


def database_conninfo(alias: str = "default") -> dict[str, Any]:
    """psycopg connection arguments for Django's database (the test database under pytest)."""
    db = connections[alias].settings_dict
    params: dict[str, Any] = {"dbname": db["NAME"], **db.get("OPTIONS", {})}
    for key, name in (("USER", "user"), ("PASSWORD", "password"), ("HOST", "host"), ("PORT", "port")):
        if db.get(key):
            params[name] = db[key]
    for django_only in ("pool", "server_side_binding", "isolation_level", "assume_role", "prepare_threshold"):
        params.pop(django_only, None)
    return params


@dataclass(slots=True, frozen=True)
class BufferedEvent:
    id: int
    recipients: frozenset[int]
    envelope: EventEnvelope
    json: str


class Waiter:
    """What one waiting client holds: set by the listener, cleared when the client wakes."""

    __slots__ = ("_flag",)

    def __init__(self) -> None:
        self._flag = asyncio.Event()

    def wake(self) -> None:
        self._flag.set()

    async def wait(self, timeout: float) -> bool:
        """True when woken, False at the timeout. A wake before the call is not lost."""
        try:
            async with asyncio.timeout(timeout):
                await self._flag.wait()
        except TimeoutError:
            return False
        self._flag.clear()
        return True


class EventListener:
    """The process's listener, bound to the event loop that created it."""

    def __init__(
        self,
        *,
        conninfo: dict[str, Any],
        buffer_size: int,
        on_events: Callable[[list[BufferedEvent]], Awaitable[None]] | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self._conninfo = conninfo
        self._buffer_size = max(buffer_size, 1)
        self._on_events = on_events
        self._ids: list[int] = []
        self._events: list[BufferedEvent] = []
        # Memory holds every event with floor < id <= head; None until the first read.
        self.floor: int | None = None
        self.head: int | None = None
        self.ready = False
        self._waiters: dict[int, set[Waiter]] = {}
        self._task = asyncio.create_task(self._run(), name="realtime-event-listener")

    @property
    def closed(self) -> bool:
        return self._task.done()

    async def close(self) -> None:
        self._task.cancel()
        with suppress(asyncio.CancelledError):
            await self._task

    @contextmanager
    def waiter(self, user_id: int) -> Iterator[Waiter]:
        """Registers a waiter for the user's events. Register before reading, so an event
        committed between the read and the wait still wakes it."""
        waiter = Waiter()
        self._waiters.setdefault(user_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            waiters = self._waiters.get(user_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[user_id]

    @property
    def waiting(self) -> int:
        return sum(len(waiters) for waiters in self._waiters.values())

    def covers(self, after: int) -> bool:
        """Whether memory holds every event after this cursor (a cursor from this log)."""
        return self.ready and self.floor is not None and self.head is not None and self.floor <= after <= self.head

    def read(self, *, user_id: int, after: int, limit: int) -> tuple[list[BufferedEvent], int] | None:
        """The user's events after the cursor from memory with the next cursor, or None when
        memory does not cover the cursor (then ask the database, which also checks it)."""
        if not self.covers(after):
            return None
        found: list[BufferedEvent] = []
        for index in range(bisect.bisect_right(self._ids, after), len(self._events)):
            event = self._events[index]
            if user_id in event.recipients:
                found.append(event)
                if len(found) == limit:
                    return found, event.id
        return found, max(after, self.head)

    async def _run(self) -> None:
        delay = RECONNECT_DELAY_MIN
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(**self._conninfo, autocommit=True) as conn:
                    await conn.execute("SET TIME ZONE 'UTC'")
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if self.head is None:
                        await self._start(conn)
                    await self._read_new(conn)
                    self.ready = True
                    delay = RECONNECT_DELAY_MIN
                    self._wake_all()
                    while True:
                        async for _ in conn.notifies(timeout=IDLE_READ_SECONDS, stop_after=1):
                            pass
                        await self._read_new(conn)
            except asyncio.CancelledError:
                self.ready = False
                raise
            except Exception:
                logger.warning("Event listener lost its connection; retrying in %.1f s", delay, exc_info=True)
            # Waiters fall back to the database until the listener is back.
            self.ready = False
            self._wake_all()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_DELAY_MAX)

    async def _start(self, conn: psycopg.AsyncConnection) -> None:
        cursor = await conn.execute(
            f"select coalesce(greatest((select max(id) from {Event._meta.db_table}),"  # noqa: S608 (table names)
            f" (select max(pruned_through) from {EventLogPrune._meta.db_table})), 0)"
        )
        row = await cursor.fetchone()
        self.floor = self.head = row[0] if row else 0

    async def _read_new(self, conn: psycopg.AsyncConnection) -> None:
        """Reads every event above the head: ids commit in order, so this is all that is new."""
        while True:
            cursor = await conn.execute(
                "select id, type, chat_id, recipient_ids, data, created_at"  # noqa: S608 (table name)
                f" from {Event._meta.db_table} where id > %s order by id limit %s",
                [self.head, READ_BATCH],
            )
            rows = await cursor.fetchall()
            if not rows:
                return
            batch = []
            for id_, type_, chat_id, recipient_ids, data, created_at in rows:
                envelope = Event(
                    id=id_, type=type_, chat_id=chat_id, recipient_ids=recipient_ids, data=data, created_at=created_at
                ).envelope()
                batch.append(BufferedEvent(id_, frozenset(recipient_ids), envelope, envelope_json(envelope)))
            self._append(batch)
            self._wake(batch)
            if self._on_events is not None:
                await self._on_events(batch)
            if len(rows) < READ_BATCH:
                return

    def _append(self, batch: list[BufferedEvent]) -> None:
        self._events.extend(batch)
        self._ids.extend(event.id for event in batch)
        self.head = batch[-1].id
        # Trim in chunks so that appending stays cheap.
        excess = len(self._events) - self._buffer_size
        if excess > self._buffer_size // 4:
            self.floor = self._ids[excess - 1]
            del self._events[:excess]
            del self._ids[:excess]

    def _wake(self, batch: list[BufferedEvent]) -> None:
        for user_id in set().union(*(event.recipients for event in batch)):
            for waiter in self._waiters.get(user_id, ()):
                waiter.wake()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.wake()


_listener: EventListener | None = None


def get_listener() -> EventListener:
    """The listener of this process, started on first use in the running event loop."""
    global _listener
    if _listener is None or _listener.closed or _listener.loop is not asyncio.get_running_loop():
        _listener = EventListener(conninfo=database_conninfo(), buffer_size=settings.REALTIME_LISTENER_BUFFER)
    return _listener
