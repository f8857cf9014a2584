"""What each WSGI worker process (granian, ops.serving.wsgi_command) sets up as it starts,
from messenger.wsgi: prometheus_client's multiprocess directory, before anything imports
prometheus_client; the worker pinned to a CPU of its own; the refusal of requests that
waited too long for a thread; and a watchdog for requests that never end and for a server
that is gone.

Nothing here imports Django's settings or prometheus_client at module level: the metrics
directory must be in the environment before either is loaded.
"""

import contextlib
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def _server_pid() -> int:
    """The process that started this one: for a granian worker (a multiprocessing child) the
    pid its server recorded before the fork, so that a server killed before the worker got
    this far (it is still importing Django) is seen as gone all the same; os.getppid()
    for anything else."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None and parent.pid is not None else os.getppid()


def metrics_directory_set() -> None:
    """prometheus_client's multiprocess mode for this worker: one directory per server (the
    workers' parent process; workers come and go, their counts stay), under METRICS_DIR or
    the temp directory, so any worker answers /metrics for all of them. The directories of
    servers no longer running are removed."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return  # set by the operator
    root = Path(os.environ.get("METRICS_DIR") or Path(tempfile.gettempdir()) / "messenger-metrics")
    server = _server_pid()
    directory = root / f"wsgi-{server}"
    directory.mkdir(parents=True, exist_ok=True)
    for other in root.glob("*-*"):
        pid = other.name.rpartition("-")[2]
        if pid.isdigit() and int(pid) != server and not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(OSError):
                shutil.rmtree(other)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def cpu_pinned() -> int | None:
    """Pins this worker, each of its threads and those it starts later, to one of the CPUs
    it may run on: the one the fewest of its sibling workers are pinned to, so that one
    worker a core stay one a core, and a worker started again takes the CPU the one it
    replaces left. Returns that CPU; None with a single CPU, where there is nothing to choose.

    Why: a request crosses a worker's threads many times (granian's runtime hands it to a
    Python thread; the GIL passes between the threads at each round trip; group commit's
    leader wakes its followers). On one core those are switches within a CPU's caches; left
    to float, the threads of one worker met on both cores and each hand-over became a wake-up
    on the other one, which in a VM is an interrupt through the hypervisor. Measured with two
    workers on two cores (docs/performance.md, "Twentieth pass"): about a tenth more message
    POSTs a second at a tenth less CPU each. The price is at full load: a worker whose core
    is busy with other work waits for it instead of moving to the other one (scenario 2 at
    500 messages a second, the machine full: receipt p99 about twice as long). The other
    processes (PostgreSQL, nginx, Centrifugo) still go where the kernel puts them."""
    import fcntl

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    server = _server_pid()
    # The workers start at once: one at a time looks and chooses (a lock in the server's
    # metrics directory, set up before this by metrics_directory_set).
    lock_path = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.gettempdir()) / "cpu-pinning.lock"
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        taken = dict.fromkeys(cpus, 0)
        for sibling in _children(server) - {os.getpid()}:
            with contextlib.suppress(OSError):
                mask = os.sched_getaffinity(sibling)
                if len(mask) == 1 and (cpu := next(iter(mask))) in taken:
                    taken[cpu] += 1
        chosen = min(cpus, key=lambda cpu: (taken[cpu], cpu))
        for thread in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                os.sched_setaffinity(int(thread), {chosen})
    return chosen


def _children(pid: int) -> set[int]:
    """The processes `pid` started that are still running (the kernel's list, per thread)."""
    found: set[int] = set()
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found.update(int(child) for child in children.read_text().split())
    return found


_CGI_KEYS = frozenset(
    {"REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH"}
    | {"SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT"}
)


def process_environment_dropped(application: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """`application` without the process's environment in each request's environ.

    granian starts every environ from a copy of os.environ (granian/wsgi.py), so each
    request's `META` would carry DJANGO_SECRET_KEY, DATABASE_URL and every other secret the
    settings read: one template or error report that shows META away from a leak (and an
    HTTP_PROXY of the environment would pass for a request's header). The keys are those of
    the environment as the worker starts, less the CGI names a request always sets."""
    process_keys = tuple(key for key in os.environ if key not in _CGI_KEYS)

    def without(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        for key in process_keys:
            environ.pop(key, None)
        return application(environ, start_response)

    return without


# nginx's stamp on each request it hands to the WSGI server (deploy/nginx/nginx.conf.template):
# `t=<seconds since the epoch, to the millisecond>`, the moment it sent the request on.
REQUEST_START = "HTTP_X_REQUEST_START"


def queue_time_limited(application: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """`application`, refusing with 503 + Retry-After a request that waited longer than
    REQUEST_QUEUE_TIMEOUT_MS for a thread (REQUEST_QUEUE_PATIENT_TIMEOUT_MS for the token
    reads a burst of connecting clients makes at once: nginx paces those, so they are served
    a little later rather than refused).

    The wait is from nginx's stamp (X-Request-Start, set on every request it proxies to the
    WSGI server, so a client cannot forge it) to now: granian queues requests in Rust and
    tells the application nothing of that wait. The two clocks are one wherever nginx and the
    WSGI server share a machine, as in every profile here (make run, the cluster's network
    namespaces); hosts of their own need their clocks synchronised well inside the limit
    (chrony keeps a LAN within a millisecond), or the check off (REQUEST_QUEUE_TIMEOUT_MS=0).
    A stamp from the future counts as no wait. Past capacity the queue grows; answering its
    stale requests at once keeps every answer fast, the accepted ones (their wait is bounded)
    and the refused ones alike, and frees the threads for fresh requests, so latency is back
    as soon as the load drops. nginx's in-flight limit refuses the rest before they queue.

    Refused here, before Django: a refusal is a few dictionary reads and a prepared answer
    (the one core.exceptions.overloaded_response makes), not a request through the handler
    and its middleware. Under twice the load the site sustains (`make bench` scenario 3)
    there are two to three refusals for each accepted POST; refused here rather than in a
    middleware, 8-52 % more POSTs were accepted there (docs/performance.md, "Eighth pass")."""
    from django.conf import settings

    from core import metrics
    from core.exceptions import overloaded_response

    limit_ms = settings.REQUEST_QUEUE_TIMEOUT_MS
    if not limit_ms:
        return application
    patient_paths = frozenset(settings.REQUEST_QUEUE_PATIENT_PATHS)
    patient_ms = max(settings.REQUEST_QUEUE_PATIENT_TIMEOUT_MS, limit_ms)
    refusal = overloaded_response()
    status = f"{refusal.status_code} {refusal.reason_phrase}"
    body = refusal.content
    headers = [*refusal.items(), ("Content-Length", str(len(body)))]

    def limited(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        stamp = environ.get(REQUEST_START)
        if stamp is None:  # not through nginx (/metrics, a test's direct request)
            return application(environ, start_response)
        try:
            waited = max(time.time() - float(stamp.removeprefix("t=")), 0.0)
        except ValueError:
            return application(environ, start_response)
        metrics.QUEUE_WAIT_SECONDS.observe(waited)
        path = environ.get("PATH_INFO", "")
        if waited * 1000 <= (patient_ms if path in patient_paths else limit_ms):
            return application(environ, start_response)
        metrics.refusal_observe(environ, 503)
        start_response(status, headers)
        return [body]

    return limited


def _exit_process() -> None:
    os._exit(70)  # EX_SOFTWARE; the server starts another worker (--respawn-failed-workers)


class Watchdog:
    """Ends the worker process when one of its requests has run longer than `limit` seconds,
    after logging the stuck threads' stacks: a request stuck on something without a timeout
    would otherwise hold one of the process's few threads for good. The server starts a fresh
    worker; nginx answers the stuck request's client and those in flight on the same worker
    with its JSON 503 (a client retrying a message POST with its client_id makes no double).

    It ends the worker too when the server process that started it is gone (killed: the OOM
    killer, `supervisorctl signal KILL`, a crash). granian's workers do not notice on their
    own: the orphan would go on accepting on the inherited socket beside the new server's
    workers, serving the old code with its own database pool, for good.

    `wrap` records each request's start and end by thread, a dictionary operation each; a
    daemon thread looks every `interval` seconds."""

    def __init__(self, limit: float, *, interval: float = 1.0, end_worker: Callable[[], None] = _exit_process) -> None:
        self.limit = limit
        self.interval = interval
        self.end_worker = end_worker
        self.server = _server_pid()
        self._started: dict[int, float] = {}
        self._thread: threading.Thread | None = None

    def wrap(self, application: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        started = self._started

        def watched(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            ident = threading.get_ident()
            started[ident] = time.monotonic()
            try:
                return application(environ, start_response)
            finally:
                started.pop(ident, None)

        return watched

    def stuck(self) -> list[int]:
        """The threads whose request has run past the limit."""
        deadline = time.monotonic() - self.limit
        return [ident for ident, at in list(self._started.items()) if at < deadline]

    def start(self) -> "Watchdog":
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="request-watchdog", daemon=True)
            self._thread.start()
        return self

    def _watch(self) -> None:
        while True:
            time.sleep(self.interval)
            if os.getppid() != self.server:
                logger.critical("the server process %s is gone: ending worker %s", self.server, os.getpid())
                self.end_worker()
                return
            threads = self.stuck()
            if threads:
                frames = sys._current_frames()
                stacks = "".join(
                    f"\nthread {ident}:\n{''.join(traceback.format_stack(frames[ident]))}"
                    for ident in threads
                    if ident in frames
                )
                logger.critical(
                    "a request has run for more than %s s: ending worker %s%s", self.limit, os.getpid(), stacks
                )
                self.end_worker()
                return
