"""The feed's own door under uvicorn, in front of Django's ASGI handler.

A feed request (GET /api/updates/ or /api/updates/stream/ with plain, valid parameters and
credentials) is answered here on the event loop: no middleware chain, no per-request
thread that Django's handler would keep for as long as the client waits, and (for a cursor
the listener's memory covers and a reader it knows) no database statement. Anything else,
bad input included, goes on to Django (`edge.feed_apis` gives the same answers there).

The middleware that a feed request skips here has nothing to do for it: the answer is JSON
or an event stream (no HTML, no CSRF, no session write); the database breaker is asked
only when the database is needed (`DatabaseProbe`).

uvicorn's lifespan start-up is answered here too (Django's handler refuses it): the process
is then ready, and its garbage collector is set up for a heap of waiting clients
(`edge.feed_gc`).
"""

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings

from core.breaker import breaker
from core.exceptions import DATABASE_UNAVAILABLE
from realtime import selectors

from . import feed_gc
from .feed_apis import LONG_POLL_WAIT_MAX
from .feed_waiting import Answer, Credentials, DatabaseProbe, error_answer, long_poll, open_stream, statement_headers
from .listener import get_listener

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UPDATES, STREAM = "/api/updates/", "/api/updates/stream/"


def _int(value: str, *, low: int, high: int) -> int | None:
    if not value.isdigit():
        return None
    number = int(value)
    return number if low <= number <= high else None


def _long_poll_params(query: dict[str, str]) -> tuple[int | None, float, int] | None:
    """(after, wait, limit), or None when anything is unusual (Django then answers)."""
    if set(query) - {"after", "wait", "limit"}:
        return None
    after = None
    if "after" in query and (after := _int(query["after"], low=0, high=2**63 - 1)) is None:
        return None
    wait = 0.0
    if "wait" in query:
        try:
            wait = float(query["wait"])
        except ValueError:
            return None
        if not 0 <= wait <= LONG_POLL_WAIT_MAX:
            return None
    limit = selectors.FEED_PAGE_SIZE
    if "limit" in query and (limit := _int(query["limit"], low=1, high=selectors.FEED_PAGE_SIZE_MAX)) is None:
        return None
    return after, wait, limit


def _credentials(headers: dict[bytes, bytes]) -> Credentials | None:
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    if authorization:
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "token" or not key.strip():
            return None
        return Credentials(token=key.strip())
    cookie = headers.get(b"cookie")
    if cookie:
        try:
            morsel = SimpleCookie(cookie.decode("latin-1")).get(settings.SESSION_COOKIE_NAME)
        except Exception:  # noqa: BLE001 (a malformed cookie header: Django decides)
            return None
        if morsel is not None and morsel.value:
            return Credentials(session_id=morsel.value)
    return Credentials()


async def _send_answer(send: Send, answer: Answer) -> None:
    headers = answer.headers | statement_headers()
    content_type = b"text/event-stream" if answer.stream is not None else b"application/json"
    raw = [(b"content-type", content_type)] + [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if answer.stream is None:
        body = answer.body.encode()
        raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": raw})
        await send({"type": "http.response.body", "body": body})
        return
    await send({"type": "http.response.start", "status": answer.status, "headers": raw})
    try:
        async for chunk in answer.stream:
            await send({"type": "http.response.body", "body": chunk.encode(), "more_body": True})
    finally:
        await answer.stream.aclose()
    await send({"type": "http.response.body", "body": b""})


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _serve(
    scope: Scope, receive: Receive, send: Send, make: Callable[[DatabaseProbe], Awaitable[Answer]]
) -> None:
    """Answers in the request's own task; a client that goes away cancels it (its wait, its
    stream), through the one task that watches for the disconnect, and the request then
    ends quietly. A cancellation from elsewhere (the server stopping) goes on up."""
    admitted = breaker.admit() if breaker.is_open else "closed"
    probe = DatabaseProbe(admitted == "probe")
    task = asyncio.current_task()
    answering, left = True, False

    def client_gone(watcher: asyncio.Future) -> None:
        nonlocal left
        if answering and not watcher.cancelled():
            left = True
            task.cancel()

    gone = asyncio.ensure_future(_until_disconnect(receive))
    gone.add_done_callback(client_gone)
    try:
        await _send_answer(send, await make(probe))
    except asyncio.CancelledError:
        if not left or task.uncancel():
            raise
    finally:
        answering = False
        gone.cancel()
        probe.abandon()


async def _lifespan(receive: Receive, send: Send) -> None:
    """uvicorn's start and stop of the process (Django's handler takes no lifespan): once
    ready, the feed's garbage collector is set up (`edge.feed_gc`)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            feed_gc.start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            feed_gc.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


def feed_front(app: ASGIApp) -> ASGIApp:
    """Wraps Django's ASGI application: feed requests are answered here."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await _lifespan(receive, send)
        path = scope.get("path")
        if scope["type"] != "http" or path not in (UPDATES, STREAM) or scope["method"] != "GET":
            return await app(scope, receive, send)
        headers = dict(scope["headers"])
        credentials = _credentials(headers)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        if credentials is None or credentials.cache_key is None:
            return await app(scope, receive, send)
        if path == UPDATES:
            params = _long_poll_params(query)
            if params is None:
                return await app(scope, receive, send)
            after, wait, limit = params

            async def make(probe: DatabaseProbe) -> Answer:
                if breaker_refuses(probe, after=after, wait=wait):
                    return _unavailable()
                return await long_poll(get_listener(), credentials, after=after, wait=wait, limit=limit, probe=probe)

        else:
            last_event_id = headers.get(b"last-event-id", b"").decode("latin-1")
            if last_event_id:
                query["after"] = last_event_id
            if set(query) - {"after"}:
                return await app(scope, receive, send)
            after = None
            if "after" in query and (after := _int(query["after"], low=0, high=2**63 - 1)) is None:
                return await app(scope, receive, send)

            async def make(probe: DatabaseProbe) -> Answer:
                if breaker_refuses(probe, after=after, wait=1):
                    return _unavailable()
                return await open_stream(get_listener(), credentials, after=after, probe=probe)

        await _serve(scope, receive, send, make)
        return None

    return application


def breaker_refuses(probe: DatabaseProbe, *, after: int | None, wait: float) -> bool:
    """While the breaker is open, only what memory can answer is served."""
    if not breaker.is_open or probe.pending:
        return False
    listener = get_listener()
    return not (wait and after is not None and listener.covers(after))


def _unavailable() -> Answer:
    return error_answer(DATABASE_UNAVAILABLE, status=503, **{"Retry-After": str(settings.OVERLOAD_RETRY_AFTER_SECONDS)})
