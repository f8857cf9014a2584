"""gunicorn's threaded worker, telling each request how long it waited for a thread, on
this process's own clock.

The wait used to be measured against nginx's stamp (`X-Request-Start`): two clocks, and on
two hosts a skew of REQUEST_QUEUE_TIMEOUT_MS (75 ms) refused every request, or let every
stale one through. Here the worker notes when a connection became ready (accepted, or
readable again on a kept-alive connection) and handed to the thread pool, and the request's
environ carries that moment (`messenger.queued_at`, time.monotonic()), which
core.middleware.QueueTimeLimitMiddleware compares with the time a thread picks it up.
"""

import contextlib
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from gunicorn.workers.gthread import ThreadWorker

QUEUED_AT = "messenger.queued_at"


def queue_timeout_ms(path: str) -> int:
    """How long a request for `path` may wait for a thread: REQUEST_QUEUE_TIMEOUT_MS, or
    REQUEST_QUEUE_PATIENT_TIMEOUT_MS for the token reads a burst of connecting clients makes
    at once (nginx paces those, so they are served a little later rather than refused)."""
    if path in settings.REQUEST_QUEUE_PATIENT_PATHS:
        return max(settings.REQUEST_QUEUE_PATIENT_TIMEOUT_MS, settings.REQUEST_QUEUE_TIMEOUT_MS)
    return settings.REQUEST_QUEUE_TIMEOUT_MS


class QueueTimedWorker(ThreadWorker):
    """`--worker-class core.gunicorn.QueueTimedWorker`: gthread plus `messenger.queued_at`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queued = threading.local()

    def init_process(self) -> None:
        _metrics_directory()
        super().init_process()

    def enqueue_req(self, conn: Any) -> None:
        conn.messenger_queued_at = time.monotonic()
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        self._queued.at = getattr(conn, "messenger_queued_at", None)
        try:
            return super().handle(conn)
        finally:
            self._queued.at = None

    def load_wsgi(self) -> None:
        super().load_wsgi()
        application, queued = self.wsgi, self._queued

        def stamped(environ: dict, start_response: Any) -> Any:
            # Only the first request a thread reads after the hand-over waited in the queue;
            # another one read on the same connection by the same thread did not.
            environ[QUEUED_AT] = getattr(queued, "at", None)
            queued.at = None
            return application(environ, start_response)

        self.wsgi = stamped


def _metrics_directory() -> None:
    """prometheus_client's multiprocess mode for this worker, before the app imports it: one
    directory per gunicorn master (workers come and go, their counts stay), under
    METRICS_DIR or the temp directory; those of masters no longer running are removed."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return  # set by the operator
    root = Path(os.environ.get("METRICS_DIR") or Path(tempfile.gettempdir()) / "messenger-metrics")
    master = os.getppid()
    directory = root / f"gunicorn-{master}"
    directory.mkdir(parents=True, exist_ok=True)
    for other in root.glob("gunicorn-*"):
        pid = other.name.removeprefix("gunicorn-")
        if pid.isdigit() and int(pid) != master and not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(OSError):
                shutil.rmtree(other)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
