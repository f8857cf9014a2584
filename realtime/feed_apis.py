"""The event feed over HTTP: polling, long polling and server-sent events.

These are plain async Django views, not DRF views: DRF runs synchronously, and a
synchronous view would hold a thread for as long as a client waits. Every database access
is one short call in a worker thread that closes its connection before returning, so a
waiting client holds neither a thread nor a connection; it waits on the process's
listener (`realtime.listener`).

The listener needs an event loop that outlives a request, which only an ASGI server
(uvicorn) has. Under WSGI (Django's test live server, runserver) long polling reads the
database once a second instead, and SSE is refused with 501.
"""

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from asgiref.sync import SyncToAsync, sync_to_async
from django.conf import settings
from django.contrib import auth
from django.core.handlers.wsgi import WSGIRequest
from django.db import close_old_connections, connections
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.module_loading import import_string
from rest_framework import exceptions, serializers

from accounts.authentication import TokenAuthentication
from chats.selectors import chat_ids_of
from core.exceptions import ApplicationError

from . import selectors
from .listener import EventListener, Waiter, envelope_json, get_listener

T = TypeVar("T")

# SSE: how long EventSource waits before reconnecting with Last-Event-ID.
SSE_RETRY_MS = 2000
# While the listener is down, waiting clients read the database this often instead.
FALLBACK_POLL_SECONDS = 5.0
LONG_POLL_WAIT_MAX = 60
# Under WSGI, where there is no listener, a long poll reads the database this often.
WSGI_POLL_SECONDS = 1.0


class UpdatesQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(
        required=False, min_value=0, help_text="The cursor from the previous answer; absent: start now."
    )
    wait = serializers.FloatField(
        required=False,
        default=0,
        min_value=0,
        max_value=LONG_POLL_WAIT_MAX,
        help_text="Long polling: seconds to wait for an event when there is none (0: answer at once).",
    )
    limit = serializers.IntegerField(
        required=False, default=selectors.FEED_PAGE_SIZE, min_value=1, max_value=selectors.FEED_PAGE_SIZE_MAX
    )


class StreamQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(
        required=False, min_value=0, help_text="Start after this cursor (the Last-Event-ID header wins)."
    )


def _error(message: str, *, status: int, extra: dict[str, Any] | None = None) -> JsonResponse:
    """The same error body as the DRF API: {"message", "extra"}."""
    return JsonResponse({"message": message, "extra": extra or {}}, status=status)


def _get_only(view: Callable[..., Awaitable[HttpResponse]]) -> Callable[..., Awaitable[HttpResponse]]:
    """Django's require_GET, with the API's error body (Django's 405 is an empty HTML page)."""

    @functools.wraps(view)
    async def only_get(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "GET":
            response = _error(f'Method "{request.method}" not allowed.', status=405)
            response["Allow"] = "GET"
            return response
        return await view(request, *args, **kwargs)

    return only_get


def _db_call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Runs in a worker thread; the connection is closed before the thread is given back."""
    try:
        return function(*args, **kwargs)
    finally:
        connections.close_all()


async def _db(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    # thread_sensitive=False: any pool thread, not one kept for this request while it waits.
    return await sync_to_async(_db_call, thread_sensitive=False)(function, *args, **kwargs)


def _release_request_thread() -> None:
    """Ends the thread asgiref keeps for this request while the client waits.

    Django's ASGI handler runs each request in a `ThreadSensitiveContext`: the first
    thread-sensitive call (the request_started signal, the middleware) starts a thread that
    lives until the response is sent, idle, one per waiting client. Ending it here makes a
    wait cost no thread; Django's next thread-sensitive call starts a fresh one.
    """
    context = SyncToAsync.thread_sensitive_context.get(None)
    executor = SyncToAsync.context_to_thread_executor.pop(context, None) if context is not None else None
    if executor is not None:
        executor.shutdown(wait=False)


def _user_id(request: HttpRequest) -> int | None:
    """`Authorization: Token <key>` (expiring, as in the REST API) or the session cookie;
    the session is what a browser's EventSource sends, as it cannot set headers."""
    close_old_connections()
    result = TokenAuthentication().authenticate(request)
    if result is not None:
        return result[0].pk
    user = request.user
    return user.pk if user.is_authenticated and user.is_active else None


@dataclass
class Reader:
    """Who reads the feed: the user, their chats now, and the first page when one was asked."""

    user_id: int
    chat_ids: list[int]
    page: selectors.FeedPage | None = None


def _feed_read(user_id: int, feed: dict[str, Any] | None) -> Reader:
    """The user's chats, then the feed (`event_feed(**feed)`) on the same connection."""
    chat_ids = chat_ids_of(user_id=user_id)
    page = None if feed is None else selectors.event_feed(user_id=user_id, chat_ids=chat_ids, **feed)
    return Reader(user_id, chat_ids, page)


def _reader(request: HttpRequest, feed: dict[str, Any] | None) -> Reader | None:
    """Authenticates and reads (`_feed_read`) on one connection: one per request, not two."""
    user_id = _user_id(request)
    return None if user_id is None else _feed_read(user_id, feed)


async def _authenticate(request: HttpRequest, *, feed: dict[str, Any] | None = None) -> Reader | JsonResponse:
    """The reader (with the feed page when `feed` names one), or a 401 answer.
    CursorGoneError from the feed propagates."""
    try:
        reader = await _db(_reader, request, feed)
    except exceptions.AuthenticationFailed as exc:
        reader, message = None, str(exc.detail)
    else:
        message = "Authentication credentials were not provided."
    if reader is None:
        response = _error(message, status=401)
        response["WWW-Authenticate"] = "Token"
        return response
    return reader


def _validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any] | JsonResponse:
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        return _error("Invalid input.", status=400, extra={"fields": serializer.errors})
    return serializer.validated_data


async def _read(
    listener: EventListener, waiter: Waiter, *, after: int, limit: int
) -> tuple[list[tuple[int, str]], int, bool]:
    """The waiter's events after the cursor as (id, JSON) pairs, the next cursor, and whether
    the user's access was revoked among them (`user.revoked`, never passed on): from the
    listener's memory when it covers the cursor, else from the database (which also
    raises CursorGoneError for a cursor outside the log, and refreshes the user's chats)."""
    found = listener.read(waiter, after=after, limit=limit)
    if found is not None:
        events, cursor = found
        kept = [(event.id, event.json) for event in events if event.type != REVOKED]
        return kept, cursor, len(kept) < len(events)
    reader = await _db(_feed_read, waiter.user_id, {"after": after, "limit": limit})
    listener.chats_set(waiter, reader.chat_ids)
    envelopes = _without_revocations(reader.page.events)
    kept = [(envelope["id"], envelope_json(envelope)) for envelope in envelopes]
    return kept, reader.page.cursor, len(kept) < len(reader.page.events)


# The event that tells a user's waiting streams to re-check their credentials.
REVOKED = "user.revoked"


def _without_revocations(envelopes: list[Any]) -> list[Any]:
    """A client never sees `user.revoked`: a request that authenticated after it has nothing
    to re-check."""
    return [envelope for envelope in envelopes if envelope["type"] != REVOKED]


def _credentials_hold(request: HttpRequest, user_id: int) -> bool:
    """Whether the request's credentials still name this active user, read afresh: after a
    `user.revoked` event. Not `request.user`, which Django read once when the request came:
    the token is looked up again, the session loaded again from its store (a logout deleted
    it; a password change elsewhere changed its hash, which `auth.get_user` checks)."""
    close_old_connections()
    try:
        result = TokenAuthentication().authenticate(request)
    except exceptions.AuthenticationFailed:
        return False
    if result is not None:
        return result[0].pk == user_id and result[0].is_active
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return False
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key)
    user = auth.get_user(_SessionHolder(store))
    return user.is_authenticated and user.pk == user_id and user.is_active


@dataclass
class _SessionHolder:
    """What `django.contrib.auth.get_user` reads of a request: its session."""

    session: Any


def _revoked_response() -> JsonResponse:
    response = _error("Your access was revoked: sign in again.", status=401)
    response["WWW-Authenticate"] = "Token"
    return response


def _page_response(events: list[str], cursor: int) -> HttpResponse:
    # The events are JSON already (serialized once per process for all their recipients).
    body = '{"events":[' + ",".join(events) + '],"cursor":' + str(cursor) + "}"
    return HttpResponse(body, content_type="application/json", headers={"Cache-Control": "no-store"})


@_get_only
async def updates_api(request: HttpRequest) -> HttpResponse:
    """GET /api/updates/?after=<cursor>[&wait=<s>][&limit=<n>]: polling, or long polling with `wait`."""
    params = _validated(UpdatesQuerySerializer, request.GET)
    if isinstance(params, HttpResponse):
        return params
    after, wait, limit = params.get("after"), params["wait"], params["limit"]
    # A long poll whose cursor the listener's memory covers needs no feed query.
    listener = get_listener() if wait and after is not None and not isinstance(request, WSGIRequest) else None
    in_memory = listener is not None and listener.covers(after)
    try:
        authenticated = await _authenticate(request, feed=None if in_memory else {"after": after, "limit": limit})
        if isinstance(authenticated, HttpResponse):
            return authenticated
        page = authenticated.page
        if page is not None:
            page.events = _without_revocations(page.events)
        if page is not None and (page.events or not wait or after is None):
            return _page_response([envelope_json(envelope) for envelope in page.events], page.cursor)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        if listener is None:
            # WSGI: no listener; read the database again and again.
            while not page.events and (remaining := deadline - loop.time()) > 0:
                await asyncio.sleep(min(remaining, WSGI_POLL_SECONDS))
                page = (await _db(_feed_read, authenticated.user_id, {"after": page.cursor, "limit": limit})).page
                page.events = _without_revocations(page.events)
            return _page_response([envelope_json(envelope) for envelope in page.events], page.cursor)
        with listener.waiter(authenticated.user_id, authenticated.chat_ids) as waiter:
            # Read again with the waiter registered: nothing committed since is missed.
            events, cursor, revoked = await _read(listener, waiter, after=page.cursor if page else after, limit=limit)
            if not events:
                _release_request_thread()
            while True:
                if revoked and not await _db(_credentials_hold, request, authenticated.user_id):
                    return _revoked_response()
                remaining = deadline - loop.time()
                if events or remaining <= 0:
                    break
                await waiter.wait(remaining if listener.ready else min(remaining, FALLBACK_POLL_SECONDS))
                events, cursor, revoked = await _read(listener, waiter, after=cursor, limit=limit)
        return _page_response([event for _, event in events], cursor)
    except ApplicationError as exc:
        return _error(exc.message, status=exc.status_code, extra=exc.extra)


def _sse_event(event_id: int, data: str) -> str:
    return f"id: {event_id}\ndata: {data}\n\n"


async def _sse_stream(listener: EventListener, reader: Reader, request: HttpRequest) -> AsyncIterator[str]:
    limit = selectors.FEED_PAGE_SIZE_MAX
    page = reader.page
    page.events = _without_revocations(page.events)
    # The middleware is done with the response once streaming starts.
    _release_request_thread()
    with listener.waiter(reader.user_id, reader.chat_ids) as waiter:
        first = "".join(_sse_event(envelope["id"], envelope_json(envelope)) for envelope in page.events)
        yield f"retry: {SSE_RETRY_MS}\n\n" + first
        cursor = page.cursor
        while True:
            try:
                events, cursor, revoked = await _read(listener, waiter, after=cursor, limit=limit)
            except ApplicationError:
                # The cursor left the log while streaming: end; the reconnect gets the 410.
                return
            if revoked and not await _db(_credentials_hold, request, reader.user_id):
                # Revoked: the stream ends; EventSource's reconnect gets the 401.
                return
            chunk = "".join(_sse_event(event_id, event) for event_id, event in events)
            if chunk:
                yield chunk
                continue
            heartbeat = settings.REALTIME_SSE_HEARTBEAT_SECONDS
            timeout = heartbeat if listener.ready else min(heartbeat, FALLBACK_POLL_SECONDS)
            if not await waiter.wait(timeout):
                yield ": heartbeat\n\n"


@_get_only
async def updates_stream_api(request: HttpRequest) -> HttpResponse:
    """GET /api/updates/stream/[?after=<cursor>]: server-sent events; `Last-Event-ID` resumes."""
    if isinstance(request, WSGIRequest):
        return _error("Server-sent events need the ASGI server (uvicorn).", status=501)
    query = request.GET.copy()
    last_event_id = request.headers.get("Last-Event-ID")
    if last_event_id:
        query["after"] = last_event_id
    params = _validated(StreamQuerySerializer, query)
    if isinstance(params, HttpResponse):
        return params
    try:
        # The first page comes from the database: it checks the cursor (410 before the
        # stream starts) and catches up a client that was away.
        authenticated = await _authenticate(
            request, feed={"after": params.get("after"), "limit": selectors.FEED_PAGE_SIZE_MAX}
        )
    except ApplicationError as exc:
        return _error(exc.message, status=exc.status_code, extra=exc.extra)
    if isinstance(authenticated, HttpResponse):
        return authenticated
    stream = _sse_stream(get_listener(), authenticated, request)
    return StreamingHttpResponse(
        stream,
        content_type="text/event-stream",
        # no-transform and X-Accel-Buffering: proxies must pass each event on at once.
        headers={"Cache-Control": "no-store, no-transform", "X-Accel-Buffering": "no"},
    )
