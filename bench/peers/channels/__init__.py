"""A Django Channels peer of the product's real-time path (issue 9, scenario 7); see README.md.

`ChannelsServer` starts `python -m bench.peers.channels` on a free loopback port for the
smoke check and the benchmarks, against the database and Redis that the environment names.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from testing.processes import free_port, process_stop

ROOT = Path(__file__).resolve().parents[3]


class ChannelsServer:
    def __init__(self, *, workers: int = 1, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws/"
        self.workers = workers
        self.log_path = Path(tempfile.gettempdir()) / f"channels-peer-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30, **extra_env: str) -> "ChannelsServer":
        command = [sys.executable, "-m", "bench.peers.channels", "--port", str(self.port)]
        command += ["--workers", str(self.workers)]
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
        if self.process is None:
            return []
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(stat.parent.name))
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children.get(pid, [])
        return found

    def stop(self) -> None:
        if self.process is not None:
            process_stop(self.process)
            self.process = None
