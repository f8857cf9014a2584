"""pytest fixture for throttle tests (loaded by the root conftest's `pytest_plugins`)."""

from collections.abc import Callable, Iterator

import pytest
import redis
from django.conf import settings as django_settings

from testing.redis_keys import keys_deleted


@pytest.fixture
def throttle_rates(settings) -> Iterator[Callable[..., None]]:
    """`throttle_rates(login="2/min")`: lowers rates for one test, counting from zero."""
    config = django_settings.CACHES["throttle"]
    client, prefix = redis.Redis.from_url(config["LOCATION"]), config["KEY_PREFIX"]
    keys_deleted(f"{prefix}:*", client=client)  # this run's throttle counters only

    def lower(**rates: str) -> None:
        settings.THROTTLE_RATES = settings.THROTTLE_RATES | rates

    yield lower
    keys_deleted(f"{prefix}:*", client=client)
    client.close()
