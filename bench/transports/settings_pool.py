"""The test settings with Django's PostgreSQL connection pool (psycopg_pool), for
`python -m bench.transports --pool`: what the per-request connection costs the feed."""

from messenger.settings.test import *  # noqa: F403
from messenger.settings.test import DATABASES

# The feed's worker threads (the loop's default executor) take at most 6 connections at once;
# the listener keeps its own, outside the pool.
DATABASES["default"]["OPTIONS"] = {**DATABASES["default"].get("OPTIONS", {}), "pool": {"min_size": 4, "max_size": 8}}
