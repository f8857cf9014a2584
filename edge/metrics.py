"""The event log's and the feed's gauges for /metrics (core.metrics), read when scraped: the
Centrifugo outbox's backlog and age, and in the process that runs the feed (uvicorn) its
waiters and its listener's lag."""

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core.metrics import backlog_gauges
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
    yield from backlog_gauges(
        CentrifugoOutbox.objects.all(),
        count=("messenger_outbox_backlog", "Events in the Centrifugo outbox not yet dispatched by Centrifugo."),
        oldest_age=("messenger_outbox_oldest_age_seconds", "Age of the oldest undispatched outbox row (0: empty)."),
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
    yield from backlog_gauges(
        Event.objects.filter(id__gt=getattr(current, "head", 0) or 0),
        count=("messenger_feed_listener_lag_events", "Events in the log the listener has not read yet."),
        oldest_age=(
            "messenger_feed_listener_lag_seconds",
            "Age of the oldest event the listener has not read (0: none).",
        ),
    )
