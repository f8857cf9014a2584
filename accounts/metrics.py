"""The token cache's gauges for /metrics (core.metrics), read when scraped: revocations
written down that Redis has not been told of yet (accounts.token_cache)."""

from collections.abc import Iterator

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .models import TokenRevocation


class RevocationCollector(Collector):
    def describe(self) -> list:
        return []  # else registering it would run collect(), its query and all, at import

    def collect(self) -> Iterator[GaugeMetricFamily]:
        unpublished = TokenRevocation.objects.aggregate(rows=Count("pk"), oldest=Min("created_at"))
        oldest = unpublished["oldest"]
        yield GaugeMetricFamily(
            "messenger_token_revocations_unpublished",
            "API token revocations Redis has not been told of yet (their cached copies may still be served).",
            value=unpublished["rows"],
        )
        yield GaugeMetricFamily(
            "messenger_token_revocations_oldest_age_seconds",
            "Age of the oldest unpublished token revocation (0: none).",
            value=0 if oldest is None else (timezone.now() - oldest).total_seconds(),
        )
