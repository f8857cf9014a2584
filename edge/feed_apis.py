"""The event feed over HTTP: polling, long polling and server-sent events.

These are plain async Django views, not DRF views: DRF runs synchronously, and a
synchronous view would hold a thread for as long as a client waits. Every database access
is one short call in a worker thread that closes its connection before returning, so a
waiting client holds neither a thread nor a connection; it waits on the process's
listener (`edge.listener`).

The listener needs an event loop that outlives a request, which only an ASGI server
(uvicorn) has. Under WSGI (Django's test live server, runserver) long polling reads the
database once a second instead, and SSE is refused with 501.

Under uvicorn most feed requests never reach these views: `edge.feed_front` answers
them before Django's handler (no middleware, no thread). These views answer the rest, and
every request under WSGI; both share `edge.feed_waiting`.
"""

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from rest_framework import serializers

from realtime import selectors

from .feed_waiting import Answer, Credentials, DatabaseProbe, long_poll, open_stream, statement_headers
from .listener import get_listener

LONG_POLL_WAIT_MAX = 60


class UpdatesQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="The cursor from the previous answer, or the id of the last event seen over any transport "
        "(WebSocket included: nothing is skipped, an event may come again); absent: start now.",
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


def _validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any] | JsonResponse:
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        return _error("Invalid input.", status=400, extra={"fields": serializer.errors})
    return serializer.validated_data


def request_credentials(request: HttpRequest) -> Credentials:
    """`Authorization: Token <key>` wins over the session cookie (as in the REST API)."""
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() == "token" and key.strip():
        return Credentials(token=key.strip())
    return Credentials(session_id=request.COOKIES.get(settings.SESSION_COOKIE_NAME) or None)


def _probe(request: HttpRequest) -> DatabaseProbe:
    """Takes the breaker's probe over from the middleware: the feed reports it itself as
    soon as its database call is done (core.breaker), not after its wait."""
    is_probe = getattr(request, "_database_probe", False)
    request._database_probe = False
    return DatabaseProbe(is_probe)


def _response(answer: Answer) -> HttpResponse:
    headers = answer.headers | statement_headers()
    if answer.stream is not None:
        return StreamingHttpResponse(answer.stream, content_type="text/event-stream", headers=headers)
    return HttpResponse(answer.body, status=answer.status, content_type="application/json", headers=headers)


@_get_only
async def updates_api(request: HttpRequest) -> HttpResponse:
    """GET /api/updates/?after=<cursor>[&wait=<s>][&limit=<n>]: polling, or long polling with `wait`."""
    params = _validated(UpdatesQuerySerializer, request.GET)
    if isinstance(params, HttpResponse):
        return params
    listener = None if isinstance(request, WSGIRequest) else get_listener()
    probe = _probe(request)
    try:
        answer = await long_poll(
            listener,
            request_credentials(request),
            after=params.get("after"),
            wait=params["wait"],
            limit=params["limit"],
            probe=probe,
        )
    finally:
        probe.abandon()  # answered without the database: no verdict, the next may probe
    return _response(answer)


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
    probe = _probe(request)
    try:
        answer = await open_stream(get_listener(), request_credentials(request), after=params.get("after"), probe=probe)
    finally:
        probe.abandon()
    return _response(answer)
