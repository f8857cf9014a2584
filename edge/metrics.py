"""The event log's and the feed's gauges for /metrics (core.metrics), read when scraped: the
Centrifugo outbox's backlog and age, and in the process that runs the feed (uvicorn) its
waiters and its listener's lag."""

from collections.abc import Iterator

from django.db import connection
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from realtime.models import CentrifugoOutbox, Event

from . import listener as feed


class StateCollector(Collector):
    """What is read when scraped rather than counted as it happens."""

    def describe(self) -> list:
        return []  # else registering it would run collect(), queries and all, at import

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from _outbox()
        yield from _feed()


def _outbox() -> Iterator[GaugeMetricFamily]:
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
    current = feed._listener
    if current is None or current.closed:
        return
    yield GaugeMetricFamily("messenger_feed_waiters", "Long polls and SSE streams waiting for events.", current.waiting)
    yield GaugeMetricFamily(
        "messenger_feed_listener_ready", "1 while the listener follows the event log.", current.ready
    )
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
