import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django.utils.functional import SimpleLazyObject, empty
from whitenoise.middleware import WhiteNoiseMiddleware

from core import metrics
from core.breaker import breaker, database_unreachable
from core.exceptions import database_unavailable, database_unavailable_response


class MetricsMiddleware(MiddlewareMixin):
    """Each request's latency by route, method and status, and the refusals (core.metrics).
    First in the chain, so that what the others refuse is counted too."""

    def process_request(self, request: HttpRequest) -> None:
        request._metrics_started = time.perf_counter()

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        started = getattr(request, "_metrics_started", None)
        if started is not None:
            metrics.request_observe(request, response.status_code, time.perf_counter() - started)
        return response


class BodySizeLimitMiddleware(MiddlewareMixin):
    """Refuses oversized bodies with 413 before any parser reads them.

    Django caps only `request.body`; DRF streams the body to its parser, so the cap is here.
    MiddlewareMixin keeps it async-capable: a sync-only middleware would make Django run
    every async view (long polling, SSE) in a thread that stays blocked while the client waits.
    """

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"message": "Invalid Content-Length.", "extra": {}}, status=400)
        # A path may allow more (REQUEST_BODY_LIMITS: file uploads, spooled to disk).
        limit = next(
            (n for prefix, n in settings.REQUEST_BODY_LIMITS.items() if request.path_info.startswith(prefix)),
            settings.MAX_REQUEST_BODY_BYTES,
        )
        if length > limit:
            message = f"Request body too large (limit {limit} bytes)."
            return JsonResponse({"message": message, "extra": {}}, status=413)
        return None


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """A view that fails because the database is out of reach answers 503 + Retry-After in
    the API's error shape. DRF views get it from their exception handler; this covers the
    others, async ones included (under ASGI, handler500 runs in a thread without the
    exception, so it cannot tell a 503 from a 500).

    While the database is known to be out of reach (core.breaker), requests are refused at
    once, except the probes that need no database."""

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if request.path_info in NO_DATABASE_PATHS:
            return None
        admitted = breaker.admit()
        if admitted == "open":
            return database_unavailable_response()
        request._database_probe = admitted == "probe"
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if database_unavailable(exception):
            if database_unreachable(exception):
                breaker.failed()
            return database_unavailable_response()
        return None

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if getattr(request, "_database_probe", False):
            request._database_probe = False
            if response.status_code == 503:
                breaker.failed()
            else:
                breaker.succeeded()
        return response


# Answered without the database: the breaker never refuses them (/healthz stays 200).
NO_DATABASE_PATHS = frozenset({"/healthz", "/readyz"})


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, async-capable.

    WhiteNoise 6's middleware is sync-only, and one sync-only middleware makes Django run
    the whole chain, async views included, in a thread per request: a long poll or an SSE
    stream would hold that thread for as long as it waits.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(get_response, *args, **kwargs)
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        static_file = self.find_file(request.path_info) if self.autorefresh else self.files.get(request.path_info)
        if static_file is not None:
            # Opening the file is blocking I/O: off the event loop.
            return await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)
        return await self.get_response(request)


class LazyMessageMiddleware(MessageMiddleware):
    """django.contrib.messages' middleware, whose storage (a reader of a cookie and of the
    session) is made when something first uses it: the admin and the page's templates do,
    an API request never does. Django's own makes it for every request (about 0.025 ms of
    a message POST's CPU)."""

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        messages = getattr(request, "_messages", None)
        if isinstance(messages, SimpleLazyObject) and messages._wrapped is empty:
            return response  # never read nor written: nothing to store
        return super().process_response(request, response)
