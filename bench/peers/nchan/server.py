"""nginx + Nchan on a free loopback port, under a temporary directory (Debian's nginx-light
and libnginx-mod-nchan)."""

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from testing.processes import free_port, process_stop

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class NchanServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.prefix = Path(tempfile.mkdtemp(prefix="nchan-"))
        self.config = self.prefix / "nginx.conf"
        self.config.write_text(
            TEMPLATE.read_text().replace("{prefix}", str(self.prefix)).replace("{port}", str(self.port))
        )
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 10) -> "NchanServer":
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.prefix), "-c", str(self.config), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=(self.prefix / "stderr.log").open("ab"),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {(self.prefix / 'stderr.log').read_text()[-1000:]}")
            try:
                # A publisher GET answers with the channel's status (404: no such channel yet).
                httpx.get(f"{self.url}/pub/0", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start")

    def pids(self) -> list[int]:
        """The master and its workers."""
        if self.process is None:
            return []
        master = self.process.pid
        workers = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                workers.append(int(stat.parent.name))
        return [master, *workers]

    def stop(self) -> None:
        if self.process is not None:
            process_stop(self.process)
            self.process = None
        shutil.rmtree(self.prefix, ignore_errors=True)
