"""Helpers for tests and benchmarks that start real processes on this machine."""

import contextlib
import os
import random
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Self, TypeVar
from unittest import mock

import httpx

if TYPE_CHECKING:
    from playwright.sync_api import Browser

T = TypeVar("T")

# Debian's Chromium as root, kept off the network: without the background-networking flags
# it keeps trying to reach Google's hosts, which this machine's closed network refuses.
CHROMIUM_EXECUTABLE = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def chromium_browser() -> Iterator["Browser"]:
    """Debian's Chromium driven by Playwright's sync API, for one test.

    The sync API runs an event loop in this thread while it is open; the test's own ORM calls
    are plain synchronous code next to it, so Django is told they are safe.
    """
    from playwright.sync_api import sync_playwright

    with mock.patch.dict(os.environ, {"DJANGO_ALLOW_ASYNC_UNSAFE": "true"}), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_EXECUTABLE, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _ephemeral_ports() -> range:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def free_port() -> int:
    """A loopback port nothing listens on right now, outside the kernel's ephemeral range:
    a port chosen at the start of a session and bound by a server minutes later (a
    SiteServer's Centrifugo) must not be taken meanwhile as the local port of some outgoing
    connection, as ephemeral ones are."""
    ephemeral = _ephemeral_ports()
    for _ in range(50):
        port = random.randrange(10_000, 32_000)
        if port in ephemeral:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
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


def process_stop(process: subprocess.Popen, *, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it is still running after `timeout` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class ServerProcess:
    """A server run as a subprocess on a free loopback port, ready when `ready_path` answers
    200, stopped with SIGTERM. Subclasses say which command and environment."""

    ready_path = "/healthz"

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
        self.process = subprocess.Popen(  # noqa: S603 (our own command line)
            self.command(),
            cwd=settings.BASE_DIR,
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


def django_environment(*, settings_module: str, application_name: str) -> dict[str, str]:
    """The environment of a Django server process against the database Django uses now (the
    test database inside pytest), its connections named so a test can count them in
    pg_stat_activity."""
    from django.db import connection

    from realtime.centrifugo_config import database_dsn

    return os.environ | {
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": f"{database_dsn(connection.settings_dict)}&application_name={application_name}",
        "PYTHONUNBUFFERED": "1",
    }


class GunicornServer(ServerProcess):
    """gunicorn serving this project as `make run` does (core.serving.wsgi_command)."""

    def __init__(
        self,
        *,
        settings_module: str = "messenger.settings.test",
        workers: int = 2,
        port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(port=port, log_path=log_path)
        self.settings_module = settings_module
        self.workers = workers
        self.application_name = f"gunicorn-{self.port}"

    def command(self) -> list[str]:
        from core.serving import wsgi_command

        return wsgi_command(port=self.port, workers=self.workers)

    def environment(self) -> dict[str, str]:
        from core.serving import wsgi_environment

        env = django_environment(settings_module=self.settings_module, application_name=self.application_name)
        return env | wsgi_environment()


class NginxServer(ServerProcess):
    """nginx from the project's template (core.serving), its files under `prefix`."""

    def __init__(self, *, prefix: Path, port: int | None = None, **values: Any) -> None:
        super().__init__(port=port, log_path=prefix / "nginx-out.log")
        from core.serving import nginx_config_write

        self.prefix = prefix
        self.config_path = nginx_config_write(
            prefix=prefix, log_dir=prefix, listen_port=self.port, access_log=prefix / "access.log", **values
        )

    def command(self) -> list[str]:
        from core.serving import nginx_command

        return nginx_command(prefix=self.prefix, log_dir=self.prefix)


class SiteServer:
    """The site as `make run` serves it: nginx in front of gunicorn (WSGI) and uvicorn (the
    feed), on free ports, against the database Django uses now (the test database inside
    pytest). nginx proxies /connection/ to `centrifugo_port`, where a test may start a
    Centrifugo (realtime.fixtures.centrifugo_factory) or leave nothing listening.

    Static files are collected (symlinked) once into `workdir`, and nginx serves them, as in
    production."""

    def __init__(
        self,
        *,
        workdir: Path,
        settings_module: str = "messenger.settings.test",
        wsgi_workers: int = 2,
        web: ServerProcess | None = None,
        **nginx_values: Any,
    ) -> None:
        from realtime.feed_testing import UvicornServer

        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.centrifugo_port = free_port()
        self.centrifugo_internal_port = free_port()
        # `web`: another WSGI server in gunicorn's place (bench/api_throughput.py compares).
        self.web = web or GunicornServer(
            settings_module=settings_module, workers=wsgi_workers, log_path=workdir / "gunicorn.log"
        )
        self.feed = UvicornServer(settings_module=settings_module, log_path=workdir / "uvicorn.log")
        self.nginx_values = nginx_values
        self.nginx: NginxServer | None = None

    def _collect_static(self) -> Path:
        from django.core.management import call_command
        from django.test import override_settings

        root = self.workdir / "static"
        with override_settings(STATIC_ROOT=root):
            call_command("collectstatic", interactive=False, link=True, verbosity=0)
        return root

    def start(self, **extra_env: str) -> "SiteServer":
        """Starts the three; `extra_env` goes to the Django processes (settings)."""
        env = {
            "SITE_URL": self.url,
            "CENTRIFUGO_PORT": str(self.centrifugo_port),
            "CENTRIFUGO_INTERNAL_PORT": str(self.centrifugo_internal_port),
            "CENTRIFUGO_WS_URL": "",
        } | extra_env
        static_root = self._collect_static()
        try:
            self.web.start(**env)
            # Without a pool, so that the feed tests can count a waiting client's connections
            # (there must be none): a pool's idle ones would hide them.
            self.feed.start(**({"DB_POOL_MAX_SIZE": "0"} | env))
            self.nginx = NginxServer(
                prefix=self.workdir / "nginx",
                port=self.port,
                wsgi_port=self.web.port,
                asgi_port=self.feed.port,
                centrifugo_port=self.centrifugo_port,
                static_root=static_root,
                **self.nginx_values,
            ).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in (self.nginx, self.feed, self.web):
            if server is not None:
                server.stop()
