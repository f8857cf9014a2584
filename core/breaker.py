"""While the database is out of reach, requests are answered 503 at once, not after a wait.

Without it every request waits DB_POOL_TIMEOUT (1 s) for a connection that cannot be made,
holding one of the WSGI server's few threads, so under load the requests behind it wait several
seconds for their 503 (measured: up to 3.7 s with PostgreSQL stopped under the fault tests'
load). After a connection failure the breaker opens for DB_UNAVAILABLE_HOLD_SECONDS: every
request in that time is refused at once; then one request at a time tries the database,
and the first that gets through closes it again. Per process; a failing query (a timeout, a
constraint) is not a connection failure and does not open it, and neither is a wait for a
pooled connection while PostgreSQL answers (PoolTimeout with every connection busy: this
process is only busy; refusing everyone for it would turn a moment of load into an
outage). A PoolTimeout while the pool's own connection attempts are failing is an outage.

The probe is a lease, not a lock: a probe that never reports (its request cancelled because
the client went away, a long poll waiting) gives its turn up after DB_PROBE_LEASE_SECONDS at
the latest, so the breaker cannot wedge. The feed's requests report as soon as their
database call is done (`edge.feed_waiting.DatabaseProbe`), never after their wait.
"""

import threading
import time

import psycopg
from django.conf import settings
from psycopg_pool import PoolTimeout

# Connection exceptions (class 08) and a server shutting down or starting (57P01-57P03).
_UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03")


def database_unreachable(exc: BaseException) -> bool:
    """Whether a database error means the server cannot be reached (not a failing query)."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    if isinstance(cause, PoolTimeout):  # an OperationalError too
        return _pool_failing()
    if not isinstance(cause, psycopg.OperationalError):
        return False
    sqlstate = getattr(cause, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(_UNREACHABLE_STATES)


# A PoolTimeout means an outage when the pool failed to connect this recently.
POOL_FAILURE_WINDOW_SECONDS = 10.0
_pool_errors = {"count": 0, "changed_at": float("-inf")}
_pool_errors_lock = threading.Lock()


def _pool_failing(alias: str = "default") -> bool:
    """Whether the pool's connection attempts failed lately (psycopg_pool counts them)."""
    from django.db import connections  # the breaker is imported while settings load

    try:
        pool = connections[alias].pool
        errors = pool.get_stats().get("connections_errors", 0) if pool is not None else 0
    except Exception:  # noqa: BLE001 (no pool: nothing says the server is gone)
        return False
    now = time.monotonic()
    with _pool_errors_lock:
        if errors != _pool_errors["count"]:
            _pool_errors["count"], _pool_errors["changed_at"] = errors, now
        return now - _pool_errors["changed_at"] < POOL_FAILURE_WINDOW_SECONDS


class DatabaseBreaker:
    def __init__(self) -> None:
        self._open = False
        self._open_until = 0.0
        # While a probe is out: until when its lease runs (0: none out).
        self._probe_until = 0.0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._open

    def admit(self) -> str:
        """ "closed": go ahead; "open": answer 503 now; "probe": go ahead, as the one try."""
        if not self._open:
            return "closed"
        now = time.monotonic()
        with self._lock:
            if now < self._open_until or now < self._probe_until:
                return "open"
            self._probe_until = now + settings.DB_PROBE_LEASE_SECONDS
        return "probe"

    def failed(self) -> None:
        with self._lock:
            self._open = True
            self._open_until = time.monotonic() + settings.DB_UNAVAILABLE_HOLD_SECONDS
            self._probe_until = 0.0

    def succeeded(self) -> None:
        with self._lock:
            self._open = False
            self._probe_until = 0.0

    def release_probe(self) -> None:
        """The probe ends without a verdict (cancelled): the next request may try."""
        with self._lock:
            self._probe_until = 0.0


breaker = DatabaseBreaker()
