"""How a feed request finds its reader and waits for events: the long poll and the SSE
stream, whichever door the request came in by (`edge.feed_front` for uvicorn,
`edge.feed_apis` for Django's views).

A request names its credentials (`Credentials`: an API token or a session id). Who they
are and which chats the user is in come from the listener's cache (`edge.feed_cache`);
a miss reads the database once, in a worker thread that gives its connection back at
once. A cursor the listener's memory covers is answered from memory: a long poll at the
head costs no SQL statement. Older cursors go to the database (`selectors.event_feed`),
which also answers 410 for a cursor outside the log.

Waiting strategies:
- with the listener (ASGI): the request registers a `Waiter` and sleeps on it; the
  listener wakes it when an event for the user is read. While the listener is down, it
  reads the database every FALLBACK_POLL_SECONDS instead;
- without it (WSGI: Django's test server, runserver): the long poll reads the database
  every WSGI_POLL_SECONDS, and SSE is refused (501).
A user's revocation (`user.revoked`) wakes their waiters, which then check their
credentials in the database afresh: a revoked one ends at once with 401.
"""

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import auth
from django.db import close_old_connections, connections
from django.db.backends.signals import connection_created
from django.utils import timezone
from django.utils.module_loading import import_string
from rest_framework import exceptions

from accounts.authentication import TokenAuthentication
from chats.selectors import chat_ids_of
from core.breaker import breaker, database_unreachable
from core.exceptions import DATABASE_UNAVAILABLE, ApplicationError, database_unavailable
from realtime import selectors

from .feed_cache import REVOKED, session_key, token_key
from .listener import EventListener, Waiter, envelope_json

T = TypeVar("T")

# SSE: how long EventSource waits before reconnecting with Last-Event-ID.
SSE_RETRY_MS = 2000
# While the listener is down, waiting clients read the database this often instead.
FALLBACK_POLL_SECONDS = 5.0
# Under WSGI, where there is no listener, a long poll reads the database this often.
WSGI_POLL_SECONDS = 1.0
STREAMS_RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class Credentials:
    """What a feed request authenticates with: `Authorization: Token <key>` wins over the
    session cookie (what a browser's EventSource sends, as it cannot set headers)."""

    token: str | None = None
    session_id: str | None = None

    @property
    def cache_key(self) -> str | None:
        if self.token is not None:
            return token_key(self.token)
        if self.session_id:
            return session_key(self.session_id)
        return None


@dataclass
class Answer:
    """A feed answer before it is written: a JSON body, or (SSE) a stream of text chunks."""

    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    stream: AsyncIterator[str] | None = None


def error_answer(message: str, *, status: int, extra: dict[str, Any] | None = None, **headers: str) -> Answer:
    """The API's error body: {"message", "extra"}."""
    return Answer(status, envelope_json({"message": message, "extra": extra or {}}), dict(headers))


def unauthenticated(message: str = "Authentication credentials were not provided.") -> Answer:
    return error_answer(message, status=401, **{"WWW-Authenticate": "Token"})


def revoked_answer() -> Answer:
    return unauthenticated("Your access was revoked: sign in again.")


def unavailable_answer() -> Answer:
    return error_answer(DATABASE_UNAVAILABLE, status=503, **{"Retry-After": str(settings.OVERLOAD_RETRY_AFTER_SECONDS)})


def page_answer(events: list[str], cursor: int) -> Answer:
    # The events are JSON already (serialized once per process for all their recipients).
    body = '{"events":[' + ",".join(events) + '],"cursor":' + str(cursor) + "}"
    return Answer(200, body, {"Cache-Control": "no-store"})


# --- The database, from the event loop -------------------------------------------------


def _db_call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Runs in a worker thread; the connection is given back before the thread is."""
    close_old_connections()
    try:
        return function(*args, **kwargs)
    finally:
        connections.close_all()


async def db(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    # thread_sensitive=False: any pool thread, not one kept for this request while it waits.
    return await sync_to_async(_db_call, thread_sensitive=False)(function, *args, **kwargs)


# Tests: the SQL statements this process ran (REALTIME_FEED_COUNT_STATEMENTS).
_statements = itertools.count()
_statement_total = 0


def _count_statement(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
    global _statement_total
    _statement_total = next(_statements) + 1
    return execute(sql, params, many, context)


def _on_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    if _count_statement not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count_statement)


def statement_headers() -> dict[str, str]:
    if not settings.REALTIME_FEED_COUNT_STATEMENTS:
        return {}
    return {"X-Feed-Statements": str(_statement_total)}


if settings.REALTIME_FEED_COUNT_STATEMENTS:
    connection_created.connect(_on_connection, dispatch_uid="realtime.feed_count_statements")


# --- Who reads ----------------------------------------------------------------------------


@dataclass
class Identity:
    user_id: int
    # Seconds the credentials stay valid at most (a token's or session's expiry).
    expires_in: float | None


def identify(credentials: Credentials, *, fresh: bool = False) -> Identity | None:
    """The active user the credentials name, or None; raises AuthenticationFailed for a bad
    or expired token (its message goes to the client). A token is read from the token cache
    unless `fresh`; a session always from its store."""
    if credentials.token is not None:
        user, token = TokenAuthentication().authenticate_credentials(credentials.token.encode(), fresh=fresh)
        expires_in = None if token.expiry is None else (token.expiry - timezone.now()).total_seconds()
        return Identity(user.pk, expires_in)
    if not credentials.session_id:
        return None
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(credentials.session_id)
    user = auth.get_user(_SessionHolder(store))
    if not (user.is_authenticated and user.is_active):
        return None
    return Identity(user.pk, (store.get_expiry_date() - timezone.now()).total_seconds())


@dataclass
class _SessionHolder:
    """What `django.contrib.auth.get_user` reads of a request: its session."""

    session: Any


@dataclass
class Reader:
    """Who reads the feed: the user, their chats now, and the first page when one was asked."""

    user_id: int
    chat_ids: list[int]
    page: selectors.FeedPage | None = None


def feed_read(user_id: int, feed: dict[str, Any] | None) -> Reader:
    """The user's chats, then the feed (`event_feed(**feed)`) on the same connection."""
    chat_ids = chat_ids_of(user_id=user_id)
    page = None if feed is None else selectors.event_feed(user_id=user_id, chat_ids=chat_ids, **feed)
    return Reader(user_id, chat_ids, page)


def _identify_and_read(credentials: Credentials, feed: dict[str, Any] | None) -> tuple[Identity, Reader] | None:
    identity = identify(credentials)
    if identity is None:
        return None
    return identity, feed_read(identity.user_id, feed)


def credentials_hold(credentials: Credentials, user_id: int) -> bool:
    """Whether the credentials still name this active user, read afresh (after a
    `user.revoked` event): the token looked up again, the session loaded again from its
    store (a logout deleted it; a password change changed its hash, which `get_user` checks).
    Not from the token cache: the event is read once its transaction has committed, and
    Redis is told of the revocation only after that (accounts.token_cache)."""
    try:
        identity = identify(credentials, fresh=True)
    except exceptions.AuthenticationFailed:
        return False
    return identity is not None and identity.user_id == user_id


class DatabaseProbe:
    """A request's part in the database breaker (core.breaker): the request that the
    middleware admitted as the probe reports the first database call's outcome, so a long
    wait after it is never the probe; cancelled, it gives the probe up."""

    def __init__(self, is_probe: bool = False) -> None:
        self.pending = is_probe

    def succeeded(self) -> None:
        if self.pending:
            self.pending = False
            breaker.succeeded()

    def failed(self, exc: BaseException) -> None:
        if database_unreachable(exc):
            self.pending = False
            breaker.failed()

    def abandon(self) -> None:
        if self.pending:
            self.pending = False
            breaker.release_probe()


async def _db_step(probe: DatabaseProbe, function: Callable[..., T], *args: Any) -> T:
    try:
        result = await db(function, *args)
    except Exception as exc:
        probe.failed(exc)
        raise
    probe.succeeded()
    return result


async def find_reader(
    listener: EventListener | None,
    credentials: Credentials,
    *,
    feed: dict[str, Any] | None,
    probe: DatabaseProbe,
) -> Reader | Answer:
    """The reader from the listener's cache when it knows them and `feed` is None (no page
    to read), else from one database call that fills the cache; or a 401 answer."""
    cache = listener.cache if listener is not None and listener.ready else None
    key = credentials.cache_key
    if key is None:
        return unauthenticated()
    if cache is not None and feed is None:
        user_id = cache.user_of(key)
        chats = cache.chats_of(user_id) if user_id is not None else None
        if chats is not None:
            return Reader(user_id, list(chats))
    seq = cache.seq if cache is not None else 0
    try:
        found = await _db_step(probe, _identify_and_read, credentials, feed)
    except exceptions.AuthenticationFailed as exc:
        return unauthenticated(str(exc.detail))
    if found is None:
        return unauthenticated()
    identity, reader = found
    if cache is not None and cache is listener.cache:
        cache.user_put(key, identity.user_id, seq=seq, expires_in=identity.expires_in)
        cache.chats_put(identity.user_id, reader.chat_ids, seq=seq)
    return reader


# --- Admission ------------------------------------------------------------------------------


class StreamLimiter:
    """Long-lived feed requests (long polls, SSE streams) per account in this process."""

    def __init__(self) -> None:
        self._held: dict[int, int] = {}

    def held(self, user_id: int) -> int:
        return self._held.get(user_id, 0)

    @contextmanager
    def admitted(self, user_id: int) -> Any:
        """Yields True when admitted (and holds a place until the block ends), else False."""
        if self._held.get(user_id, 0) >= settings.REALTIME_FEED_STREAMS_PER_USER:
            yield False
            return
        self._held[user_id] = self._held.get(user_id, 0) + 1
        try:
            yield True
        finally:
            left = self._held[user_id] - 1
            if left:
                self._held[user_id] = left
            else:
                del self._held[user_id]


limiter = StreamLimiter()


def too_many_streams() -> Answer:
    limit = settings.REALTIME_FEED_STREAMS_PER_USER
    return error_answer(
        f"Too many open feed requests for this account (at most {limit}): close one or retry later.",
        status=429,
        extra={"limit": limit},
        **{"Retry-After": str(STREAMS_RETRY_AFTER_SECONDS)},
    )


# --- Reading and waiting --------------------------------------------------------------------


async def read_after(
    listener: EventListener, waiter: Waiter, *, after: int, limit: int
) -> tuple[list[tuple[int, str]], int, bool]:
    """The waiter's events after the cursor as (cursor, JSON) pairs, the next cursor, and
    whether the user's access was revoked among them (`user.revoked`, never passed on):
    from the listener's memory when it covers the cursor, else from the database (which
    also raises CursorGoneError for a cursor outside the log, and refreshes the chats)."""
    found = listener.read(waiter, after=after, limit=limit)
    if found is not None:
        events, cursor = found
        kept = [(event.cursor, event.json) for event in events if event.type != REVOKED]
        return kept, cursor, len(kept) < len(events)
    reader = await db(feed_read, waiter.user_id, {"after": after, "limit": limit})
    listener.chats_set(waiter, reader.chat_ids)
    page = reader.page
    kept = [
        (cursor, envelope_json(envelope))
        for cursor, envelope in zip(page.cursors, page.events, strict=True)
        if envelope["type"] != REVOKED
    ]
    return kept, page.cursor, len(kept) < len(page.events)


def _without_revocations(page: selectors.FeedPage) -> list[tuple[int, str]]:
    """A client never sees `user.revoked`: a request that authenticated after it has nothing
    to re-check."""
    return [
        (cursor, envelope_json(envelope))
        for cursor, envelope in zip(page.cursors, page.events, strict=True)
        if envelope["type"] != REVOKED
    ]


async def long_poll(
    listener: EventListener | None,
    credentials: Credentials,
    *,
    after: int | None,
    wait: float,
    limit: int,
    probe: DatabaseProbe,
) -> Answer:
    """GET /api/updates/: the events after the cursor, waiting up to `wait` seconds for one
    when there is none. `listener` None: no listener (WSGI), the database is read again and
    again."""
    try:
        in_memory = listener is not None and wait > 0 and after is not None and listener.covers(after)
        feed = None if in_memory else {"after": after, "limit": limit}
        reader = await find_reader(listener, credentials, feed=feed, probe=probe)
        if isinstance(reader, Answer):
            return reader
        page = reader.page
        if page is not None and (page.events or not wait or after is None):
            return page_answer([event for _, event in _without_revocations(page)], page.cursor)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        if listener is None:
            events = _without_revocations(page)
            while not events and (remaining := deadline - loop.time()) > 0:
                await asyncio.sleep(min(remaining, WSGI_POLL_SECONDS))
                page = (await db(feed_read, reader.user_id, {"after": page.cursor, "limit": limit})).page
                events = _without_revocations(page)
            return page_answer([event for _, event in events], page.cursor)
        with limiter.admitted(reader.user_id) as admitted:
            if not admitted:
                return too_many_streams()
            with listener.waiter(reader.user_id, reader.chat_ids) as waiter:
                # Read (again) with the waiter registered: nothing committed since is missed.
                start = page.cursor if page is not None else after
                events, cursor, revoked = await read_after(listener, waiter, after=start, limit=limit)
                while True:
                    if revoked and not await db(credentials_hold, credentials, reader.user_id):
                        return revoked_answer()
                    remaining = deadline - loop.time()
                    if events or remaining <= 0:
                        break
                    await waiter.wait(remaining if listener.ready else min(remaining, FALLBACK_POLL_SECONDS))
                    events, cursor, revoked = await read_after(listener, waiter, after=cursor, limit=limit)
        return page_answer([event for _, event in events], cursor)
    except BaseException as exc:  # noqa: BLE001 (what is not answered is raised again)
        return _failure_answer(exc, probe)


def _failure_answer(exc: BaseException, probe: DatabaseProbe) -> Answer:
    """The answer to a feed request that failed before its events: the error's own (4xx), or
    503 when the database is unreachable. A cancelled request gives up its probe turn; that
    and anything else is raised again."""
    if isinstance(exc, ApplicationError):
        return error_answer(exc.message, status=exc.status_code, extra=exc.extra)
    if isinstance(exc, asyncio.CancelledError):
        probe.abandon()
    elif isinstance(exc, Exception) and database_unavailable(exc):
        return unavailable_answer()
    raise exc


def _sse_event(cursor: int, data: str) -> str:
    return f"id: {cursor}\ndata: {data}\n\n"


async def open_stream(
    listener: EventListener, credentials: Credentials, *, after: int | None, probe: DatabaseProbe
) -> Answer:
    """GET /api/updates/stream/: server-sent events. The first page comes from memory when
    it covers the cursor, else from the database (which checks the cursor: 410 before the
    stream starts) and catches up a client that was away."""
    try:
        in_memory = after is not None and listener.covers(after)
        limit = selectors.FEED_PAGE_SIZE_MAX
        feed = None if in_memory or (after is None and listener.ready) else {"after": after, "limit": limit}
        reader = await find_reader(listener, credentials, feed=feed, probe=probe)
        if isinstance(reader, Answer):
            return reader
    except BaseException as exc:  # noqa: BLE001 (what is not answered is raised again)
        return _failure_answer(exc, probe)
    if reader.page is not None:
        first, cursor = _without_revocations(reader.page), reader.page.cursor
    else:
        first, cursor = [], after if after is not None else listener.head
    if limiter.held(reader.user_id) >= settings.REALTIME_FEED_STREAMS_PER_USER:
        return too_many_streams()
    stream = _stream(listener, credentials, reader, first, cursor)
    headers = {"Cache-Control": "no-store, no-transform", "X-Accel-Buffering": "no"}
    return Answer(200, headers=headers, stream=stream)


async def _stream(
    listener: EventListener, credentials: Credentials, reader: Reader, first: list[tuple[int, str]], cursor: int
) -> AsyncIterator[str]:
    limit = selectors.FEED_PAGE_SIZE_MAX
    with limiter.admitted(reader.user_id) as admitted, listener.waiter(reader.user_id, reader.chat_ids) as waiter:
        if not admitted:
            return
        yield f"retry: {SSE_RETRY_MS}\n\n" + "".join(_sse_event(c, event) for c, event in first)
        while True:
            try:
                events, cursor, revoked = await read_after(listener, waiter, after=cursor, limit=limit)
            except ApplicationError:
                # The cursor left the log while streaming: end; the reconnect gets the 410.
                return
            if revoked and not await db(credentials_hold, credentials, reader.user_id):
                # Revoked: the stream ends; EventSource's reconnect gets the 401.
                return
            chunk = "".join(_sse_event(c, event) for c, event in events)
            if chunk:
                yield chunk
                continue
            heartbeat = settings.REALTIME_SSE_HEARTBEAT_SECONDS
            timeout = heartbeat if listener.ready else min(heartbeat, FALLBACK_POLL_SECONDS)
            if not await waiter.wait(timeout):
                yield ": heartbeat\n\n"
