"""Real processes on this machine for tests and benchmarks: free ports, waiting, stopping,
and a server subprocess with its log."""

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Self, TypeVar

import httpx

from ops.processes import process_stop

T = TypeVar("T")


def _ephemeral_ports() -> range:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def _own_ports() -> range:
    """This process's share of 10000-31999: a pytest-xdist worker draws only from its own
    slice. Two workers drawing from one range could both find a port free before either
    server bound it; the second server then failed to bind while its readiness check was
    answered by the first (a CI run froze one site's web server and another worker's answered)."""
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    width = (32_000 - 10_000) // count
    return range(10_000 + index * width, 10_000 + (index + 1) * width)


_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on right now, outside the kernel's ephemeral range
    and not handed out before by this process: a port chosen at the start of a session and
    bound by a server minutes later (a SiteServer's Centrifugo) must not be taken meanwhile
    as the local port of some outgoing connection, as ephemeral ones are, nor by another
    server of this run."""
    ephemeral = _ephemeral_ports()
    own = _own_ports()
    for _ in range(50):
        port = random.choice(own)
        if port in ephemeral or port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05) -> T:
    """Polls `predicate` until it returns something truthy, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def in_forked_child(check: Callable[[], bool]) -> bool:
    """Whether `check()` returns true in a child forked from this process (as Celery's
    prefork pool forks its workers); an exception in the child counts as false."""
    pid = os.fork()
    if pid == 0:
        passed = False
        try:
            passed = bool(check())
        finally:
            os._exit(0 if passed else 1)  # the child ends here, whatever check() raised
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


class ServerProcess:
    """A server run as a subprocess on a free loopback port, ready when `ready_path` answers
    200, stopped with SIGTERM. Subclasses say which command and environment."""

    ready_path = "/healthz"
    # The directory the server runs in: the project's root unless a benchmark serves another
    # commit's tree (granian imports the application from its working directory first).
    working_dir: Path | None = None

    def __init__(self, *, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self, timeout: float = 30, **extra_env: str) -> Self:
        from django.conf import settings

        self._log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.working_dir or settings.BASE_DIR,
            env=self.environment() | extra_env,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log_path.read_text()[-2000:] if self.log_path else ""
                self.stop()
                raise RuntimeError(f"{self.command()[:4]} exited: {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}{self.ready_path}", timeout=1).status_code == 200:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.command()[:4]} did not answer {self.ready_path} in time")

    def stop(self) -> None:
        if self.process is not None:
            process_stop(self.process)
            self.process = None
        if self._log:
            self._log.close()
            self._log = None


class GroupProcess:
    """A subprocess started in a session (process group) of its own, so that a SIGKILL
    reaches it and its children at once, as when a machine loses them. Subclasses start
    `process`; `stop` gives it `stop_timeout` seconds after SIGTERM."""

    process: subprocess.Popen | None = None
    stop_timeout: float = 15

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to the process and its children: no shutdown, no acknowledgement."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if not self.alive:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def django_environment(*, settings_module: str, application_name: str) -> dict[str, str]:
    """The environment of a Django server process against the database Django uses now (the
    test database inside pytest), its connections named so a test can count them in
    pg_stat_activity."""
    from django.db import connection

    from core.database import database_url

    return os.environ | {
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": database_url(connection.settings_dict, sslmode="disable", application_name=application_name),
        "PYTHONUNBUFFERED": "1",
    }
