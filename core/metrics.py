"""Prometheus metrics of the Django processes, at `/metrics` on their own ports (internal).

- Per request (core.middleware.MetricsMiddleware): latency by route, method and status;
  the wait for a gunicorn thread; refusals (503, 429) by route.
- Per message: messages accepted (chats' POST).
- Read when scraped: the Centrifugo outbox's backlog and the age of its oldest row; in the
  feed's process (uvicorn), its waiting clients and its listener's lag behind the event log.

gunicorn's workers write their values to files (prometheus_client's multiprocess mode; the
directory is one per gunicorn master, core.gunicorn), so any worker answers for all of them.
uvicorn is one process: its own values.

`/metrics` is for the internal side only: nginx, the public server, sets X-Forwarded-For
on everything it proxies, and a request carrying it is answered 404 here. Scrape gunicorn's
and uvicorn's ports directly (docs/operations.md), beside Centrifugo's internal port.
"""

import os
from collections.abc import Iterator

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# From 1 ms (a cached read) to 10 s (past every timeout): where a POST's p50 and p99 fall.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_SECONDS = Histogram(
    "messenger_http_request_duration_seconds",
    "Time from the first middleware to the response, by route (Django's pattern), method and status.",
    ["route", "method", "status"],
    buckets=_LATENCY_BUCKETS,
)
QUEUE_WAIT_SECONDS = Histogram(
    "messenger_http_queue_wait_seconds",
    "Time a request waited for a gunicorn thread (core.gunicorn), on gunicorn's clock.",
    buckets=_LATENCY_BUCKETS,
)
REFUSALS = Counter(
    "messenger_http_refusals_total",
    "Requests refused with 503 (overload, database out of reach) or 429 (throttled), by route.",
    ["route", "status"],
)
MESSAGES_ACCEPTED = Counter("messenger_messages_accepted_total", "Messages written (new, not a client_id retry).")

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def request_observe(request: HttpRequest, status: int, seconds: float) -> None:
    route = _route(request)
    method = request.method if request.method in _METHODS else "other"
    REQUEST_SECONDS.labels(route, method, str(status)).observe(seconds)
    if status in (503, 429):
        REFUSALS.labels(route, str(status)).inc()


def _route(request: HttpRequest) -> str:
    """The URL pattern (`api/chats/<int:chat_id>/messages/`), bounded: never the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is None:  # refused before the URL was resolved (a middleware answered)
        from django.urls import Resolver404, resolve

        try:
            match = resolve(request.path_info)
        except Resolver404:
            return "unmatched"
    return match.route or "unmatched"


class StateCollector(Collector):
    """What is read when scraped rather than counted as it happens."""

    def describe(self) -> list:
        return []  # else registering it would run collect(), queries and all, at import

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from _outbox()
        yield from _feed()


def _outbox() -> Iterator[GaugeMetricFamily]:
    from realtime.models import CentrifugoOutbox

    table = CentrifugoOutbox._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"select count(*), coalesce(extract(epoch from now() - min(created_at)), 0) from {table}"  # noqa: S608
        )
        rows, age = cursor.fetchone()
    yield GaugeMetricFamily(
        "messenger_outbox_backlog", "Events in the Centrifugo outbox not yet dispatched by Centrifugo.", value=rows
    )
    yield GaugeMetricFamily(
        "messenger_outbox_oldest_age_seconds", "Age of the oldest undispatched outbox row (0: empty).", value=age
    )


def _feed() -> Iterator[GaugeMetricFamily]:
    """The feed's listener, in the process that runs one (uvicorn); nothing elsewhere."""
    from realtime import listener as feed

    current = feed._listener
    if current is None or current.closed:
        return
    yield GaugeMetricFamily("messenger_feed_waiters", "Long polls and SSE streams waiting for events.", current.waiting)
    yield GaugeMetricFamily(
        "messenger_feed_listener_ready", "1 while the listener follows the event log.", current.ready
    )
    from realtime.models import Event

    with connection.cursor() as cursor:
        cursor.execute(
            f"select count(*), coalesce(extract(epoch from now() - min(created_at)), 0) from {Event._meta.db_table} "  # noqa: S608
            "where id > %s",
            [getattr(current, "head", 0) or 0],
        )
        behind, age = cursor.fetchone()
    yield GaugeMetricFamily(
        "messenger_feed_listener_lag_events", "Events in the log the listener has not read yet.", value=behind
    )
    yield GaugeMetricFamily(
        "messenger_feed_listener_lag_seconds", "Age of the oldest event the listener has not read (0: none).", age
    )


_state = StateCollector()
REGISTRY.register(_state)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """`GET /metrics`: the Prometheus text format; 404 through the public server."""
    if "HTTP_X_FORWARDED_FOR" in request.META:
        return JsonResponse({"message": "Not found.", "extra": {}}, status=404)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(_state)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
