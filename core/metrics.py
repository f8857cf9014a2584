"""Prometheus metrics of the Django processes, at `/metrics` on their own ports (internal).

- Per request (core.middleware.MetricsMiddleware): latency by route, method and status;
  refusals (503, 429) by route; the wait for a WSGI thread (core.worker), and the requests
  it refused.
- Per message: messages accepted (chats' POST); how many commit together (group commit's
  writes per transaction), how long a write waited behind its process's running
  transaction, and how often such a transaction fell back to writes alone.
- Read when scraped (each app registers its collector; edge.metrics, accounts.metrics): the
  Centrifugo outbox's backlog and the age of its oldest row; the token revocations Redis has
  not been told of; in the feed's process (uvicorn), its waiting clients and its listener's
  lag behind the event log.

granian's workers write their values to files (prometheus_client's multiprocess mode; the
directory is one per granian server, core.worker), so any worker answers for all of them.
uvicorn is one process: its own values.

`/metrics` is for the internal side only: nginx, the public server, sets X-Forwarded-For
on everything it proxies, and a request carrying it is answered 404 here. Scrape granian's
and uvicorn's ports directly (docs/operations.md), beside Centrifugo's internal port.
"""

import os
from collections.abc import Iterator
from typing import Any

from django.core.handlers.wsgi import get_path_info
from django.db.models import Count, F, Max, QuerySet
from django.db.models.functions import Now
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
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

from .exceptions import error_response

# From 1 ms (a cached read) to 10 s (past every timeout): where a POST's p50 and p99 fall,
# finer between 5 and 25 ms, where issue 19's p99 target (25 ms) is told apart.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

REQUEST_SECONDS = Histogram(
    "messenger_http_request_duration_seconds",
    "Time from the first middleware to the response, by route (Django's pattern), method and status.",
    ["route", "method", "status"],
    buckets=_LATENCY_BUCKETS,
)
QUEUE_WAIT_SECONDS = Histogram(
    "messenger_http_queue_wait_seconds",
    "Time from nginx handing a request on to a WSGI thread taking it (core.worker.queue_time_limited).",
    buckets=_LATENCY_BUCKETS,
)
REFUSALS = Counter(
    "messenger_http_refusals_total",
    "Requests refused with 503 (overload, database out of reach) or 429 (throttled), by route.",
    ["route", "status"],
)
MESSAGES_ACCEPTED = Counter("messenger_messages_accepted_total", "Messages written (new, not a client_id retry).")
GROUP_COMMIT_WRITES = Histogram(
    "messenger_group_commit_writes",
    "Writes per transaction of core.postgresql.group_commit (1: a write alone).",
    buckets=(1, 2, 3, 4, 6, 8, 12, 16),
)
GROUP_COMMIT_WAIT_SECONDS = Histogram(
    "messenger_group_commit_wait_seconds",
    "Time a write waited behind its process's running transaction (core.postgresql.group_commit):"
    " until the next transaction committed it, or handed it the lead. Writes that found no"
    " transaction running are not counted.",
    buckets=_LATENCY_BUCKETS,
)
GROUP_COMMIT_FALLBACKS = Counter(
    "messenger_group_commit_fallbacks_total",
    "Transactions of several writes that PostgreSQL refused (a lock held elsewhere past the group"
    " commit's lock timeout, or one bad write); each of their writes ran again alone.",
)

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def request_observe(request: HttpRequest, status: int, seconds: float) -> None:
    match = getattr(request, "resolver_match", None)
    route = match.route if match is not None else _route(request.path_info)
    _observe(route, request.method, status, seconds)


def refusal_observe(environ: dict[str, Any], status: int) -> None:
    """A request refused before Django saw it (core.worker.queue_time_limited), counted as
    MetricsMiddleware counts the others."""
    _observe(_route(get_path_info(environ)), environ.get("REQUEST_METHOD"), status, 0.0)


def _observe(route: str, method: str | None, status: int, seconds: float) -> None:
    method = method if method in _METHODS else "other"
    REQUEST_SECONDS.labels(route or "unmatched", method, str(status)).observe(seconds)
    if status in (503, 429):
        REFUSALS.labels(route or "unmatched", str(status)).inc()


def _route(path_info: str) -> str:
    """The URL pattern (`api/chats/<int:chat_id>/messages/`) of a request refused before the
    URL was resolved (a middleware, or the worker, answered), bounded: never the raw path."""
    try:
        return resolve(path_info).route
    except Resolver404:
        return "unmatched"


# What apps read when scraped (gauges), registered by each app (edge.metrics).
_state_collectors: list[Collector] = []


def state_collector_register(collector: Collector) -> None:
    _state_collectors.append(collector)
    REGISTRY.register(collector)


def backlog_gauges(
    rows: QuerySet, *, count: tuple[str, str], oldest_age: tuple[str, str]
) -> Iterator[GaugeMetricFamily]:
    """Two gauges of a backlog, in one query: how many rows, and the age in seconds of the
    oldest by its `created_at` on the database's clock (0 when there is none). `count` and
    `oldest_age` are each a metric's name and help."""
    backlog = rows.aggregate(rows=Count("pk"), age=Max(Now() - F("created_at")))
    age = backlog["age"]
    yield GaugeMetricFamily(*count, value=backlog["rows"])
    yield GaugeMetricFamily(*oldest_age, value=0 if age is None else age.total_seconds())


def metrics_view(request: HttpRequest) -> HttpResponse:
    """`GET /metrics`: the Prometheus text format; 404 through the public server."""
    if "HTTP_X_FORWARDED_FOR" in request.META:
        return error_response("Not found.", status=404)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for collector in _state_collectors:
            registry.register(collector)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
