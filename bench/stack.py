"""The product's processes for `make bench`, in production settings, on the bench database.

INTERIM: until the project's own start script (nginx + gunicorn + uvicorn + Centrifugo under
supervisord, issue 9's topology) is on main, this starts the same shape itself: nginx on a
free loopback port in front of gunicorn (WSGI, one worker per core) for the API and pages,
uvicorn for the long-poll/SSE feed and Centrifugo for /connection/. Once that script lands,
`Stack` drives it instead and this launcher goes.
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
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.url = self.origin
        self.ws_url = f"ws://127.0.0.1:{self.port}/connection/websocket"
        self.processes: dict[str, subprocess.Popen] = {}
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
        log = (self.workdir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(  # noqa: S603 (our own command lines)
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def start(self, timeout: float = 60) -> "Stack":
        from realtime.testing import CentrifugoServer

        self.centrifugo = CentrifugoServer(origin=self.origin, log_level="warn", workdir=self.workdir / "centrifugo")
        self.centrifugo.start()
        env = self._env()
        gunicorn_sock, uvicorn_sock = self.workdir / "gunicorn.sock", self.workdir / "uvicorn.sock"
        venv = Path(sys.executable).parent
        self._spawn(
            "gunicorn",
            [str(venv / "gunicorn"), "messenger.wsgi:application", "--workers", str(self.workers)]
            + ["--bind", f"unix:{gunicorn_sock}", "--backlog", "2048", "--log-level", self.log_level],
            env,
        )
        self._spawn(
            "uvicorn",
            [sys.executable, "-m", "uvicorn", "messenger.asgi:application", "--uds", str(uvicorn_sock)]
            + ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", self.log_level],
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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited: {(self.workdir / f'{name}.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
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
