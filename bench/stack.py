"""The product's processes for `make bench`, in production settings, on the bench database.

`stack_start()` uses the project's own launcher when it is there (core.testing.SiteServer:
nginx from deploy/nginx/, gunicorn and uvicorn with core.serving's command lines, as
`make run`), with a Centrifugo where its nginx proxies /connection/. INTERIM: before that
lands on main, `Stack` starts the same shape itself (nginx from stack_nginx.conf.template in
front of gunicorn, uvicorn and Centrifugo); it goes once the project's launcher is merged.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import procs
from core.testing import free_port, process_stop

ROOT = Path(__file__).resolve().parents[1]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TEMPLATE = Path(__file__).with_name("stack_nginx.conf.template")


class Stack:
    """nginx, gunicorn, uvicorn and Centrifugo against the database Django is connected to."""

    def __init__(self, *, workers: int | None = None, log_level: str = "warning") -> None:
        self.workers = workers or os.cpu_count() or 2
        self.log_level = log_level
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-stack-"))
        # nginx's workers (not root) reach the unix sockets in here.
        self.workdir.chmod(0o711)
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.url = self.origin
        self.ws_url = f"ws://127.0.0.1:{self.port}/connection/websocket"
        self.processes: dict[str, subprocess.Popen] = {}
        self.commands: dict[str, tuple[list[str], dict[str, str] | None]] = {}
        self.centrifugo = None

    # -- processes -----------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        from django.db import connection

        from realtime.centrifugo_config import database_dsn

        return os.environ | {
            "DJANGO_SETTINGS_MODULE": "messenger.settings.production",
            "DATABASE_URL": database_dsn(connection.settings_dict),
            "SITE_URL": self.origin,
            "CENTRIFUGO_WS_URL": self.ws_url,
            "CENTRIFUGO_PORT": str(self.centrifugo.port),
            # Sync workers keep one connection each for good (no pool to share).
            "DB_CONN_MAX_AGE": "600",
            "DB_POOL_MAX_SIZE": "0",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }

    def _spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        self.commands[name] = (command, env)
        log = (self.workdir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def start(self, timeout: float = 60) -> "Stack":
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> "Stack":
        from realtime.testing import CentrifugoServer

        self.centrifugo = CentrifugoServer(origin=self.origin, log_level="warn", workdir=self.workdir / "centrifugo")
        self.centrifugo.start()
        env = self._env()
        gunicorn_sock, uvicorn_sock = self.workdir / "gunicorn.sock", self.workdir / "uvicorn.sock"
        venv = Path(sys.executable).parent
        self._spawn(
            "gunicorn",
            [
                str(venv / "gunicorn"),
                "messenger.wsgi:application",
                "--workers",
                str(self.workers),
                "--bind",
                f"unix:{gunicorn_sock}",
                "--backlog",
                "2048",
                "--log-level",
                self.log_level,
            ],
            env,
        )
        self._spawn(
            "uvicorn",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "messenger.asgi:application",
                "--uds",
                str(uvicorn_sock),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                self.log_level,
            ],
            env | {"DB_POOL_MAX_SIZE": "8", "DB_CONN_MAX_AGE": "0"},
        )
        config = self.workdir / "nginx.conf"
        values = {
            "prefix": self.workdir,
            "port": self.port,
            "gunicorn": gunicorn_sock,
            "uvicorn": uvicorn_sock,
            "centrifugo": self.centrifugo.port,
        }
        text = TEMPLATE.read_text()
        for key, value in values.items():
            text = text.replace("{" + key + "}", str(value))
        config.write_text(text)
        self._spawn("nginx", [NGINX, "-p", str(self.workdir), "-c", str(config), "-g", "daemon off;"])
        self._wait_healthy(timeout)
        return self

    def restart(self, name: str, timeout: float = 60) -> None:
        """Stops and starts one process again (a web server still busy with a backlog)."""
        process_stop(self.processes.pop(name))
        self._spawn(name, *self.commands[name])
        self._wait_healthy(timeout)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited: {(self.workdir / f'{name}.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the stack did not answer /healthz in time; logs in {self.workdir}")

    def stop(self) -> None:
        for process in self.processes.values():
            process_stop(process)
        self.processes.clear()
        if self.centrifugo:
            self.centrifugo.stop()

    # -- what the runner measures ----------------------------------------------------------
    def roles(self) -> dict[str, list[int]]:
        """The pids of each server role now (workers included)."""
        roles = {name: procs.tree(process.pid) for name, process in self.processes.items()}
        if self.centrifugo and self.centrifugo.process:
            roles["centrifugo"] = [self.centrifugo.process.pid]
        return roles

    def centrifugo_pid(self) -> int:
        return self.centrifugo.process.pid


class SiteStack:
    """The project's own launcher (core.testing.SiteServer) with a Centrifugo behind it."""

    def __init__(self, *, workers: int | None = None) -> None:
        from core.testing import SiteServer  # type: ignore[attr-defined]

        self.workdir = Path(tempfile.mkdtemp(prefix="bench-site-"))
        self.workdir.chmod(0o711)
        self.site = SiteServer(
            workdir=self.workdir,
            settings_module="messenger.settings.production",
            wsgi_workers=workers or os.cpu_count() or 2,
        )
        self.origin = self.url = self.site.url
        self.ws_url = self.url.replace("http://", "ws://") + "/connection/websocket"
        self.centrifugo = None
        self.env: dict[str, str] = {}

    def start(self) -> "SiteStack":
        from realtime.testing import CentrifugoServer

        self.centrifugo = CentrifugoServer(
            origin=self.origin,
            log_level="warn",
            workdir=self.workdir / "centrifugo",
            port=self.site.centrifugo_port,
            internal_port=self.site.centrifugo_internal_port,
        )
        try:
            self.centrifugo.start()
            self.env = {"LOG_LEVEL": "WARNING", "CENTRIFUGO_WS_URL": self.ws_url}
            self.site.start(**self.env)
        except BaseException:
            self.stop()
            raise
        return self

    def restart(self, name: str) -> None:
        server = {"gunicorn": self.site.web, "uvicorn": self.site.feed}[name]
        server.stop()
        server.start(**self.env)

    def stop(self) -> None:
        self.site.stop()
        if self.centrifugo:
            self.centrifugo.stop()

    def roles(self) -> dict[str, list[int]]:
        roles = {}
        for name, server in (("nginx", self.site.nginx), ("gunicorn", self.site.web), ("uvicorn", self.site.feed)):
            if server is not None and server.process is not None:
                roles[name] = procs.tree(server.process.pid)
        if self.centrifugo and self.centrifugo.process:
            roles["centrifugo"] = [self.centrifugo.process.pid]
        return roles


def stack_start() -> "Stack | SiteStack":
    """The project's launcher if this checkout has it, else the interim one above."""
    import core.testing

    if hasattr(core.testing, "SiteServer"):
        return SiteStack().start()
    return Stack().start()
