"""The token cache's gauges for /metrics (core.metrics), read when scraped: revocations
written down that Redis has not been told of yet (accounts.token_cache)."""

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core.metrics import backlog_gauges

from .models import TokenRevocation


class RevocationCollector(Collector):
    def describe(self) -> list:
        return []  # else registering it would run collect(), its query and all, at import

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from backlog_gauges(
            TokenRevocation.objects.all(),
            count=(
                "messenger_token_revocations_unpublished",
                "API token revocations Redis has not been told of yet (their cached copies may still be served).",
            ),
            oldest_age=(
                "messenger_token_revocations_oldest_age_seconds",
                "Age of the oldest unpublished token revocation (0: none).",
            ),
        )
