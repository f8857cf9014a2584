"""One PostgreSQL LISTEN connection per process wakes every waiting long-poll and SSE client.

A trigger NOTIFYs `realtime_events` when an event row commits (migration 0002; a message
POST, just after its commit: 0008). The listener then reads the new rows once, on that same
connection, keeps the newest events
in memory, and wakes only the waiters they concern: the waiters of the event's chat, and
those of the users it names. A waiting client holds an `asyncio.Event` and the set of its
chats: no thread and no database connection. A woken client whose cursor is in memory is
answered without a query; an older cursor goes to the database (`event_feed`).

The NOTIFY payload is only a nudge: the listener always reads "every readable event past
the last one I have" (in feed order, `realtime.selectors`), so a lost notification or a
reconnect loses nothing. An event that committed while an older transaction still runs is
not readable yet; the listener then looks again shortly instead of waiting for a NOTIFY.
"""

import asyncio
import bisect
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from typing import Any

import psycopg
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from core.database import database_conninfo
from realtime.events import EventEnvelope, message_quote
from realtime.models import Event, EventLogPrune
from realtime.selectors import SAFE_TXID_SQL, START, Position, cursor_event, cursor_of, resume_position

from .feed_cache import JOINS, LEAVES, FeedCache

logger = logging.getLogger(__name__)

CHANNEL = "realtime_events"
# Without a notification for this long the listener reads the log anyway: it checks its
# connection and would catch an event whose NOTIFY was lost.
IDLE_READ_SECONDS = 30.0
# Rows per read when catching up after a reconnect.
READ_BATCH = 1000
RECONNECT_DELAY_MIN, RECONNECT_DELAY_MAX = 0.5, 10.0
# While committed events wait behind an older running transaction, look again this often.
BEHIND_READ_SECONDS = 0.01


def envelope_json(envelope: EventEnvelope) -> str:
    """The wire form of an event, the same for long polling and SSE."""
    return json.dumps(envelope, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


# A message's delete or edit event replaces the text of its earlier events.
REDACTING = frozenset({"message.deleted", "message.updated"})
REDACTED = frozenset({"message.created", "message.updated"})


@dataclass(slots=True, frozen=True)
class BufferedEvent:
    id: int
    position: Position
    # Where a plain id of this event resumes (`selectors.resume_position`), and the cursor
    # the feed hands out for it.
    resume: Position
    cursor: int
    type: str
    chat_id: int
    to_members: bool
    also_to: frozenset[int]
    envelope: EventEnvelope
    json: str


class Waiter:
    """What one waiting client holds: set by the listener, cleared when the client wakes.

    `chats` are the user's chats; reading an event that adds or removes the user (it names
    them) updates it, so a stream follows its user into a new chat and out of an old one.
    """

    __slots__ = ("_flag", "chats", "user_id")

    def __init__(self, user_id: int, chats: set[int]) -> None:
        self._flag = asyncio.Event()
        self.user_id = user_id
        self.chats = chats

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
        self._positions: list[Position] = []
        self._events: list[BufferedEvent] = []
        self._by_id: dict[int, BufferedEvent] = {}
        # Memory holds every event after the floor up to the head, in feed order; the floor
        # and head are cursors with their positions. None until the first read.
        self.floor: int | None = None
        self.head: int | None = None
        self.floor_position: Position = START
        self.head_position: Position = START
        self.ready = False
        # Credentials and chats of recent readers, kept true by the events read here.
        self.cache = FeedCache(
            max_entries=getattr(settings, "REALTIME_FEED_CACHE_ENTRIES", 50_000),
            ttl=getattr(settings, "REALTIME_FEED_CACHE_SECONDS", 60.0),
        )
        self._by_user: dict[int, set[Waiter]] = {}
        self._by_chat: dict[int, set[Waiter]] = {}
        self._task = asyncio.create_task(self._run(), name="realtime-event-listener")

    @property
    def closed(self) -> bool:
        return self._task.done()

    async def close(self) -> None:
        self._task.cancel()
        with suppress(asyncio.CancelledError):
            await self._task

    @contextmanager
    def waiter(self, user_id: int, chats: list[int]) -> Iterator[Waiter]:
        """Registers a waiter for the user's events. Register before reading, so an event
        committed between the read and the wait still wakes it."""
        waiter = Waiter(user_id, set(chats))
        self._by_user.setdefault(user_id, set()).add(waiter)
        for chat_id in waiter.chats:
            self._by_chat.setdefault(chat_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            _index_discard(self._by_user, user_id, waiter)
            for chat_id in waiter.chats:
                _index_discard(self._by_chat, chat_id, waiter)

    @property
    def waiting(self) -> int:
        return sum(len(waiters) for waiters in self._by_user.values())

    def position_for(self, after: int) -> Position | None:
        """The position a cursor resumes from when memory holds every event after it, else
        None (then the database answers, and checks the cursor)."""
        if not self.ready:
            return None
        if after == self.floor:
            return self.floor_position
        event_id, exact = cursor_event(after)
        event = self._by_id.get(event_id)
        if event is None:
            return None
        position = event.position if exact else event.resume
        return position if position >= self.floor_position else None

    def covers(self, after: int) -> bool:
        """Whether memory holds every event after this cursor (a cursor from this log)."""
        return self.position_for(after) is not None

    def read(self, waiter: Waiter, *, after: int, limit: int) -> tuple[list[BufferedEvent], int] | None:
        """The waiter's events after the cursor from memory with the next cursor, or None
        when memory does not cover the cursor (then ask the database, which also checks it)."""
        position = self.position_for(after)
        if position is None:
            return None
        found: list[BufferedEvent] = []
        user_id = waiter.user_id
        for index in range(bisect.bisect_right(self._positions, position), len(self._events)):
            event = self._events[index]
            if user_id in event.also_to:
                found.append(event)
                self._follow(waiter, event)
            elif event.to_members and event.chat_id in waiter.chats:
                found.append(event)
            else:
                continue
            if len(found) == limit:
                return found, event.cursor
        return found, self.head if self.head_position > position else after

    def chats_set(self, waiter: Waiter, chats: list[int]) -> None:
        """Replaces the waiter's chats (read from the database) and re-indexes it."""
        for chat_id in waiter.chats:
            _index_discard(self._by_chat, chat_id, waiter)
        waiter.chats = set(chats)
        for chat_id in waiter.chats:
            self._by_chat.setdefault(chat_id, set()).add(waiter)

    def _follow(self, waiter: Waiter, event: BufferedEvent) -> None:
        """Keeps the waiter's chats (and the chat index) in step with an event naming it."""
        if event.type in JOINS and event.chat_id not in waiter.chats:
            waiter.chats.add(event.chat_id)
            self._by_chat.setdefault(event.chat_id, set()).add(waiter)
        elif event.type in LEAVES and event.chat_id in waiter.chats:
            waiter.chats.discard(event.chat_id)
            _index_discard(self._by_chat, event.chat_id, waiter)

    async def _run(self) -> None:
        delay = RECONNECT_DELAY_MIN
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(**self._conninfo, autocommit=True) as conn:
                    # A pipeline's statements share an implicit transaction: each must
                    # still see what committed before it (_fetch_new).
                    await conn.execute("SET TIME ZONE 'UTC'; SET default_transaction_isolation TO 'read committed'")
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if self.head is None:
                        await self._start(conn)
                    await self._read_new(conn)
                    self.ready = True
                    delay = RECONNECT_DELAY_MIN
                    self._wake_all()
                    behind = False
                    while True:
                        timeout = BEHIND_READ_SECONDS if behind else IDLE_READ_SECONDS
                        async for _ in conn.notifies(timeout=timeout, stop_after=1):
                            pass
                        behind = await self._read_new(conn)
            except asyncio.CancelledError:
                self.ready = False
                self.cache.clear()
                raise
            except Exception:
                logger.warning("Event listener lost its connection; retrying in %.1f s", delay, exc_info=True)
            # Waiters fall back to the database until the listener is back; what was
            # remembered may have changed unseen meanwhile.
            self.ready = False
            self.cache.clear()
            self._wake_all()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_DELAY_MAX)

    async def _safe_txid(self, conn: psycopg.AsyncConnection) -> int:
        cursor = await conn.execute(SAFE_TXID_SQL)
        return (await cursor.fetchone())[0]

    async def _start(self, conn: psycopg.AsyncConnection) -> None:
        """Starts memory at the newest readable event: clients waiting from then on are
        served from memory; older cursors from the database."""
        safe = await self._safe_txid(conn)
        cursor = await conn.execute(
            f"""select (select array[txid, id, resume_txid] from {Event._meta.db_table}
                        where txid < %s order by txid desc, id desc limit 1),
                       (select max(pruned_through) from {EventLogPrune._meta.db_table})""",  # noqa: S608 (table names)
            [safe],
        )
        head, horizon = await cursor.fetchone()
        if head is None:
            self.floor = self.head = horizon or 0
            self.floor_position = self.head_position = (START[0], self.head)
        else:
            self.floor = self.head = cursor_of(head[1], head[0], head[2])
            self.floor_position = self.head_position = (head[0], head[1])

    async def _fetch_new(self, conn: psycopg.AsyncConnection) -> tuple[int, list[tuple[Any, ...]]]:
        """The bound below which every event has committed (`SAFE_TXID_SQL`), then the next
        rows past the head: one round trip, the two statements sent together in a pipeline.
        Two statements, not one: the rows must be read with a later snapshot than the
        bound's (see SAFE_TXID_SQL), and under read committed each statement takes its own."""
        async with conn.pipeline():
            bound = await conn.execute(SAFE_TXID_SQL)
            rows = await conn.execute(
                f"""select id, txid, resume_txid, type, chat_id, to_members, also_to, data, created_at
                    from {Event._meta.db_table}
                    where (txid, id) > (%s, %s) order by txid, id limit %s""",  # noqa: S608 (table name)
                [self.head_position[0], self.head_position[1], READ_BATCH],
            )
        return (await bound.fetchone())[0], await rows.fetchall()

    async def _read_new(self, conn: psycopg.AsyncConnection) -> bool:
        """Reads every readable event past the head; returns whether committed events wait
        behind an older running transaction (then the caller looks again soon)."""
        while True:
            safe, rows = await self._fetch_new(conn)
            batch = []
            for id_, txid, resume_txid, type_, chat_id, to_members, also_to, data, created_at in rows:
                if txid >= safe:
                    break
                envelope = Event(id=id_, type=type_, chat_id=chat_id, data=data, created_at=created_at).envelope()
                position = (txid, id_)
                json_text = envelope_json(envelope)
                batch.append(
                    BufferedEvent(
                        id_,
                        position,
                        resume_position(id_, txid, resume_txid, exact=False),
                        cursor_of(id_, txid, resume_txid),
                        type_,
                        chat_id,
                        to_members,
                        frozenset(also_to),
                        envelope,
                        json_text,
                    )
                )
            if batch:
                # Credentials and chats first: a woken waiter must not find them stale.
                self.cache.apply(batch)
                self._append(batch)
                self._wake(batch)
                if self._on_events is not None:
                    await self._on_events(batch)
            if len(batch) < len(rows):
                return True
            if len(rows) < READ_BATCH:
                return False

    def _append(self, batch: list[BufferedEvent]) -> None:
        for event in batch:
            if event.type in REDACTING:
                self._redact(event)
        self._events.extend(batch)
        self._positions.extend(event.position for event in batch)
        self._by_id.update((event.id, event) for event in batch)
        self.head, self.head_position = batch[-1].cursor, batch[-1].position
        # Trim in chunks so that appending stays cheap.
        excess = len(self._events) - self._buffer_size
        if excess > self._buffer_size // 4:
            self.floor, self.floor_position = self._events[excess - 1].cursor, self._positions[excess - 1]
            for event in self._events[:excess]:
                del self._by_id[event.id]
            del self._events[:excess]
            del self._positions[:excess]

    def _redact(self, by: BufferedEvent) -> None:
        """A message was deleted or edited: its earlier events in memory get its data now, and
        the events of replies quoting it the quote as it is now, as the database's did in the
        same transaction (realtime.services.message_events_redact)."""
        data = by.envelope["data"]
        chat_id, message_id, quote = by.chat_id, data.get("id"), message_quote(data)
        for index, event in enumerate(self._events):
            if event.chat_id != chat_id or event.type not in REDACTED:
                continue
            event_data = event.envelope["data"]
            if event_data.get("id") == message_id:
                new_data = data
            elif (event_data.get("reply_to") or {}).get("id") == message_id:
                new_data = event_data | {"reply_to": quote}
            else:
                continue
            envelope = event.envelope | {"data": new_data}
            self._events[index] = replace(event, envelope=envelope, json=envelope_json(envelope))
            self._by_id[event.id] = self._events[index]

    def _wake(self, batch: list[BufferedEvent]) -> None:
        woken: set[Waiter] = set()
        for event in batch:
            for user_id in event.also_to:
                woken.update(self._by_user.get(user_id, ()))
            if event.to_members:
                woken.update(self._by_chat.get(event.chat_id, ()))
        for waiter in woken:
            waiter.wake()

    def _wake_all(self) -> None:
        for waiters in self._by_user.values():
            for waiter in waiters:
                waiter.wake()


def _index_discard(index: dict[int, set[Waiter]], key: int, waiter: Waiter) -> None:
    waiters = index.get(key)
    if waiters is not None:
        waiters.discard(waiter)
        if not waiters:
            del index[key]


_listener: EventListener | None = None


def get_listener() -> EventListener:
    """The listener of this process, started on first use in the running event loop."""
    global _listener
    if _listener is None or _listener.closed or _listener.loop is not asyncio.get_running_loop():
        conninfo = database_conninfo()
        # Named apart from the process's other connections: pg_stat_activity tells it apart.
        conninfo["application_name"] = f"{conninfo.get('application_name') or 'messenger'}/listener"
        _listener = EventListener(conninfo=conninfo, buffer_size=settings.REALTIME_LISTENER_BUFFER)
    return _listener
