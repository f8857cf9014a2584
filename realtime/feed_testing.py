"""A real uvicorn serving this project on a free port, for the feed tests and the benchmark.

The long-poll and SSE views need an event loop that outlives a request (their listener),
which Django's test live server (WSGI, a thread per request) does not have.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from django.conf import settings
from django.db import connection

from core.testing import free_port, process_stop

from .centrifugo_config import database_dsn


class UvicornServer:
    """`python -m uvicorn messenger.asgi:application` against the database Django uses now
    (the test database inside pytest). One worker: one process, one listener."""

    def __init__(
        self, *, settings_module: str = "messenger.settings.test", log_path: Path | None = None, workers: int = 1
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.application_name = f"uvicorn-{self.port}"
        self.settings_module = settings_module
        self.workers = workers
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self._log = None

    def start(self, timeout: float = 30, **extra_env: str) -> "UvicornServer":
        env = (
            os.environ
            | extra_env
            | {
                "DJANGO_SETTINGS_MODULE": self.settings_module,
                # Named, so that tests can count this server's connections in pg_stat_activity.
                "DATABASE_URL": f"{database_dsn(connection.settings_dict)}&application_name={self.application_name}",
                "PYTHONUNBUFFERED": "1",
            }
        )
        self._log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115 (closed in stop)
        command = [sys.executable, "-m", "uvicorn", "messenger.asgi:application", "--host", "127.0.0.1"]
        command += [
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        self.process = subprocess.Popen(  # noqa: S603 (our own command line)
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("uvicorn did not answer /healthz in time")

    def stop(self) -> None:
        if self.process is None:
            return
        process_stop(self.process)
        self.process = None
        if self._log:
            self._log.close()
            self._log = None
