"""What every peer's settings share: the product's production settings, its models and
database, no middleware, and a psycopg pool."""

from messenger.settings.production import *  # noqa: F403
from messenger.settings.production import DATABASES, env

# The peers' only views authenticate by token and answer JSON: no session, CSRF or static
# files, and no sync middleware that would cost every request a hop to a thread.
MIDDLEWARE: list[str] = []

# Django's ASGI handler runs each request's sync code in a thread of its own
# (ThreadSensitiveContext), so a persistent connection would be a new one per request: a
# psycopg pool instead, as Django's docs advise under ASGI (DB_POOL_MAX_SIZE per process).
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
    "min_size": 2,
    "max_size": env.int("DB_POOL_MAX_SIZE", default=0) or 8,
    "timeout": 10,
}
