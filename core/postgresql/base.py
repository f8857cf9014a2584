"""Django's PostgreSQL backend, with a cheaper check of pooled connections and a cursor for
statements worth preparing.

psycopg_pool's own check (what Django installs with CONN_HEALTH_CHECKS) sends an empty
query on every checkout: a round trip to PostgreSQL per request, on a connection that
answered a moment ago. Here a connection is checked only when it has not been for
DB_POOL_CHECK_INTERVAL_SECONDS: after an idle spell (when a restarted PostgreSQL or a
timeout may have closed it) it still never reaches a request broken; under load, no
request pays for it. A connection that breaks while in use is discarded by the pool when it
comes back.
"""

import time
from typing import Any

from django.conf import settings
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool


def _check_now_and_then(connection: Any) -> None:
    now = time.monotonic()
    if now - getattr(connection, "_checked_at", float("-inf")) < settings.DB_POOL_CHECK_INTERVAL_SECONDS:
        return
    ConnectionPool.check_connection(connection)
    connection._checked_at = now


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> ConnectionPool | None:
        pool = super().pool
        # Django passes its check to the constructor and refuses one in OPTIONS["pool"]: it is
        # swapped here, once, before the pool hands out its first connection.
        if pool is not None and pool._check is ConnectionPool.check_connection:
            pool._check = _check_now_and_then
        return pool

    def prepared_cursor(self) -> Any:
        """A cursor that binds its parameters server-side, so psycopg prepares a statement once
        it has run `prepare_threshold` times on the connection (OPTIONS; None, never, behind a
        transaction pooler): PostgreSQL then skips parsing and planning it. Django's own
        cursors bind client-side and are never prepared. Results are read with the
        connection's loaders (Django's time zone is not set on this cursor)."""
        self.close_if_health_check_failed()
        self.ensure_connection()
        with self.wrap_database_errors:
            return self._prepare_cursor(base.ServerBindingCursor(self.connection))
