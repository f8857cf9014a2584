"""pytest fixture for throttle tests (loaded by the root conftest's `pytest_plugins`)."""

from collections.abc import Callable, Iterator

import pytest
import redis
from django.conf import settings as django_settings


def _throttle_keys_delete(client: redis.Redis, prefix: str) -> None:
    """Deletes this test run's throttle counters only (never FLUSHDB: Redis is shared)."""
    for key in client.scan_iter(match=f"{prefix}:*", count=500):
        client.delete(key)


@pytest.fixture
def throttle_rates(settings) -> Iterator[Callable[..., None]]:
    """`throttle_rates(login="2/min")`: lowers rates for one test, counting from zero."""
    config = django_settings.CACHES["throttle"]
    client, prefix = redis.Redis.from_url(config["LOCATION"]), config["KEY_PREFIX"]
    _throttle_keys_delete(client, prefix)

    def lower(**rates: str) -> None:
        settings.THROTTLE_RATES = settings.THROTTLE_RATES | rates

    yield lower
    _throttle_keys_delete(client, prefix)
    client.close()
