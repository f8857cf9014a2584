"""A peer's server process, started on a free loopback port for the smoke checks and the
benchmarks: `python -m <module> --port N --workers W` against the database and Redis that
the environment names."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import procs
from testing.processes import free_port, process_stop

ROOT = Path(__file__).resolve().parents[2]


class PeerServer:
    module = ""  # `python -m` this
    ws_path = ""  # where its sockets connect

    def __init__(self, *, workers: int = 1, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}{self.ws_path}"
        self.workers = workers
        name = self.module.rsplit(".", 1)[-1]
        self.log_path = Path(tempfile.gettempdir()) / f"{name}-peer-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30, **extra_env: str) -> "PeerServer":
        command = [sys.executable, "-m", self.module, "--port", str(self.port), "--workers", str(self.workers)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=os.environ | extra_env | {"PYTHONUNBUFFERED": "1"},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the peer exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the peer did not answer /healthz in time")

    def pids(self) -> list[int]:
        """The server process and its descendants (uvicorn's workers), for CPU from /proc."""
        return procs.descendants(self.process.pid) if self.process is not None else []

    def stop(self) -> None:
        if self.process is not None:
            process_stop(self.process)
            self.process = None


class ChannelsServer(PeerServer):
    module = "bench.peers.channels"
    ws_path = "/ws/"


class SocketIOServer(PeerServer):
    module = "bench.peers.socketio"
    ws_path = "/socket.io/"
