"""Settings for pytest: the real PostgreSQL and Redis, a fast password hasher."""

from .base import *  # noqa: F403
from .base import (
    CACHES,
    CELERY_BROKER_TRANSPORT_OPTIONS,
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS,
    DATABASES,
    THROTTLE_RATES,
    env,
)

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Several test runs may share one PostgreSQL; each may name its own test database.
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default="test_messenger")}
# make test runs several pytest-xdist processes; pytest-django gives each a database of its own
# named <name>_<worker> (gw0, gw1, ...), and the Redis prefixes below follow that name.
_XDIST_WORKER = env.str("PYTEST_XDIST_WORKER", default="")
RUN_NAME = DATABASES["default"]["TEST"]["NAME"] + (f"_{_XDIST_WORKER}" if _XDIST_WORKER else "")
# ... and, when scripts/test.sh lists several, a PostgreSQL server of its own (gw<n> takes the
# n-th): the feed's cursors depend on the server's oldest running transaction. A process the
# tests start with a DATABASE_URL of its own (the faults' PostgreSQL, say) keeps it.
_ports = env.list("TEST_DATABASE_PORTS", default=[])
if _XDIST_WORKER and _ports and not env.str("DATABASE_URL", default=""):
    DATABASES["default"]["PORT"] = int(_ports[int(_XDIST_WORKER.removeprefix("gw")) % len(_ports)])
# Tasks sent during a test run go to queues of its own on the shared Redis (every key prefixed
# with the run's name), never to the `make run` worker or to another run's worker.
CELERY_KEY_PREFIX = env.str("CELERY_KEY_PREFIX", default=f"{RUN_NAME}:")
CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = CELERY_KEY_PREFIX
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS["global_keyprefix"] = CELERY_KEY_PREFIX
# Results carry the queue a task came from (tests check the routing on the worker's side).
CELERY_RESULT_EXTENDED = True
# A stalled SMTP server hits the email task's soft limit quickly. Set here, not only in the
# worker's environment: Celery writes a task's time limits into the message when it is sent.
NOTIFICATIONS_EMAIL_SOFT_TIME_LIMIT = 3
# A machine shared by several test runs can keep a request waiting for a thread for a
# while; only the overload tests want the production bound (they set it themselves).
REQUEST_QUEUE_TIMEOUT_MS = env.int("REQUEST_QUEUE_TIMEOUT_MS", default=3000)
# Servers that tests start (uvicorn) serve static files straight from the apps: no
# collectstatic needed on a fresh clone.
WHITENOISE_USE_FINDERS = True
# ... and not from STATIC_ROOT, which a fresh clone does not have.
STATIC_ROOT = None
# Throttle counters of a test run under a prefix of its own on the shared Redis; rates high
# enough that no test is throttled unless it lowers them (core/tests/test_throttling.py).
CACHES["throttle"]["KEY_PREFIX"] = f"{RUN_NAME}:throttle"
THROTTLE_RATES = dict.fromkeys(THROTTLE_RATES, "100000/min")
# Web Push: the tests' push receiver listens on loopback over http; a key pair of the test
# run's own when .env has none (the receiver checks each push against the key it names).
PUSH_ALLOW_INSECURE_ENDPOINTS = True
PUSH_SEND = False  # on in the push tests only: other tests' messages give the worker no tasks
if not PUSH_VAPID_PRIVATE_KEY:  # noqa: F405
    from push.vapid import vapid_keys_generate

    PUSH_VAPID_PRIVATE_KEY, PUSH_VAPID_PUBLIC_KEY = vapid_keys_generate()
REALTIME_FEED_COUNT_STATEMENTS = True  # every feed answer says how many SQL statements its process ran
# The tests' data makes admins at once (the `team` fixture); the consent tests set the
# production tenure themselves (notifications/tests/test_consent.py).
CHAT_ADMIN_MIN_TENURE_SECONDS = 0
# The suite's own clients come from 127.0.0.1 and are not counted by nginx's per-client
# limits; the admission tests send from other loopback addresses (127.0.0.2, ...).
ADMISSION_EXEMPT_ADDRESSES = env.list("ADMISSION_EXEMPT_ADDRESSES", default=["127.0.0.1"])
