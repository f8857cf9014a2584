"""What the suite measures with: the load generator (bench/loadgen, Go) and a probe of every
process's CPU and memory (/proc), read at the load generator's markers; small helpers over
their results."""

import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import procs

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
STATE_DIR = Path(os.environ.get("MESSENGER_STATE_DIR", ROOT / ".state"))
DATABASE = "bench_run"
CORES = os.cpu_count() or 1


def client_address(n: int) -> str:
    """Client n's own loopback source address (127.0.10.1, 127.0.10.2, ...): one client per
    address, as on the Internet, so nginx's per-address admission meets each client alone.
    Not 127.0.0.x, where nginx's upstream connections take their ports."""
    return f"127.0.{10 + n // 250}.{1 + n % 250}"


def client_addresses(count: int) -> list[str]:
    return [client_address(n) for n in range(count)]


def log(message: str) -> None:
    print(f"\033[1m[bench {time.strftime('%H:%M:%S')}]\033[0m {message}", flush=True)


def loadgen_binary() -> Path:
    out = subprocess.run([str(ROOT / "bench" / "loadgen" / "build.sh")], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


class Probe:
    """CPU seconds, run-queue waits and memory of every server role, PostgreSQL, Redis, the
    load generators and the whole machine, read from /proc at an instant."""

    def __init__(self, roles: Callable[[], dict[str, list[int]]]) -> None:
        self.roles = roles
        self.loadgen_pids: list[int] = []
        # Last CPU seconds and run-queue wait read of every backend seen: one that exits
        # keeps its share.
        self.backend_cpu: dict[int, float] = {}
        self.backend_wait: dict[int, float] = {}

    def snapshot(self) -> dict[str, Any]:
        roles = self.roles()
        cpu = {name: procs.cpu_seconds(pids) for name, pids in roles.items()}
        wait = {name: procs.run_queue_wait_seconds(pids) for name, pids in roles.items()}
        rss = {name: procs.rss_bytes(pids) for name, pids in roles.items()}
        # Only the backends of the bench database: other sessions share this cluster.
        # A backend that exits between two readings takes its CPU with it (the servers
        # here keep theirs for the whole run).
        backends = procs.postgres_backends(STATE_DIR, DATABASE)
        for pid in backends:
            self.backend_cpu[pid] = procs.cpu_seconds([pid])
            self.backend_wait[pid] = procs.run_queue_wait_seconds([pid])
        cpu["postgres"] = sum(self.backend_cpu.values())
        wait["postgres"] = sum(self.backend_wait.values())
        rss["postgres"] = procs.rss_bytes(backends)
        redis = _redis_pid()
        if redis:
            cpu["redis"] = procs.cpu_seconds([redis])
            wait["redis"] = procs.run_queue_wait_seconds([redis])
        loadgen = {pid: procs.cpu_seconds([pid]) for pid in self.loadgen_pids}
        cpu["loadgen"] = sum(loadgen.values())
        wait["loadgen"] = procs.run_queue_wait_seconds(self.loadgen_pids)
        return {
            "t": time.monotonic(),
            "cpu": cpu,
            "run_queue_wait": wait,
            "cpu_pressure": procs.cpu_pressure_seconds(),
            "loadgen_by_pid": loadgen,
            "rss": rss,
            "machine": procs.machine_cpu_seconds(),
            "load": os.getloadavg()[0],
        }

    @staticmethod
    def window(start: dict, end: dict) -> dict[str, Any]:
        wall = end["t"] - start["t"]
        cpu = {k: round(end["cpu"][k] - start["cpu"].get(k, 0), 3) for k in end["cpu"]}
        server = sum(v for k, v in cpu.items() if k != "loadgen")
        waited = {k: round(v - start["run_queue_wait"].get(k, 0), 3) for k, v in end["run_queue_wait"].items()}
        pressure = (
            round((end["cpu_pressure"] - start["cpu_pressure"]) / wall, 3)
            if wall > 0 and None not in (start["cpu_pressure"], end["cpu_pressure"])
            else None
        )
        return {
            "wall_s": round(wall, 2),
            "cpu_s": cpu,
            "cores": {k: round(v / wall, 3) for k, v in cpu.items()} if wall > 0 else {},
            "server_cpu_s": round(server, 3),
            # Ready to run, waiting for a CPU: seconds per role, and the share of the window in
            # which some task of the machine waited (the kernel's CPU pressure).
            "run_queue_wait_s": waited,
            "cpu_pressure_share": pressure,
            "machine_busy_cores": round((end["machine"] - start["machine"]) / wall, 2) if wall > 0 else None,
            "loadgen_share_of_busy": round(cpu.get("loadgen", 0) / (end["machine"] - start["machine"]), 3)
            if end["machine"] > start["machine"]
            else None,
            "load_average_1m": round(end["load"], 2),
        }


def _redis_pid() -> int | None:
    try:
        return int((STATE_DIR / "redis" / "redis.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def cpu_text(window: dict) -> str:
    cores = sorted(((k, v) for k, v in window.get("cores", {}).items() if v >= 0.01), key=lambda kv: -kv[1])
    parts = ", ".join(f"{k} {v:.2f}" for k, v in cores)
    machine, load = window.get("machine_busy_cores"), window.get("load_average_1m")
    return f"cores busy: {parts} (of {CORES}; machine {machine}, load {load})"


def limit_text(window: dict) -> str:
    """Which process was busiest over the window, and whether the machine was out of CPU."""
    cores = {k: v for k, v in window.get("cores", {}).items() if k != "loadgen"}
    if not cores:
        return "no CPU figures"
    top, value = max(cores.items(), key=lambda kv: kv[1])
    busy = window.get("machine_busy_cores") or 0
    saturated = busy >= 0.9 * CORES
    head = (
        f"CPU-bound: the machine's {CORES} cores were {busy:.2f} busy"
        if saturated
        else f"machine {busy:.2f} of {CORES} cores busy"
    )
    return f"{head}; busiest: {top} ({value:.2f} cores), load generator {window['cores'].get('loadgen', 0):.2f}"


class Loadgen:
    """One run of the load generator with a scenario; the probe is read at its markers."""

    def __init__(self, binary: Path, probe: Probe) -> None:
        self.binary = binary
        self.probe = probe
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-loadgen-"))
        self.count = 0

    def start(self, scenario: dict) -> dict:
        self.count += 1
        path = self.workdir / f"scenario-{self.count}.json"
        out = self.workdir / f"result-{self.count}.json"
        path.write_text(json.dumps(scenario))
        process = subprocess.Popen(
            [str(self.binary), "-scenario", str(path), "-out", str(out)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.probe.loadgen_pids.append(process.pid)
        run: dict[str, Any] = {"process": process, "out": out, "snapshots": {}, "markers": {}}

        def read() -> None:
            for line in process.stdout:
                try:
                    marker = json.loads(line)
                except ValueError:
                    continue
                event = marker.get("event")
                run["snapshots"][event] = self.probe.snapshot()
                run["markers"][event] = marker
                if event in run.get("events", {}):
                    run["events"][event].set()

        run["events"] = {name: threading.Event() for name in ("ready", "held", "measure_end", "done")}
        run["reader"] = threading.Thread(target=read, daemon=True)
        run["reader"].start()
        return run

    def finish(self, run: dict, timeout: float = 600) -> dict:
        process = run["process"]
        if process.stdin and not process.stdin.closed:
            process.stdin.close()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        run["reader"].join(timeout=5)
        self.probe.loadgen_pids.remove(process.pid)
        if process.returncode != 0 or not run["out"].exists():
            raise RuntimeError(f"the load generator failed ({process.returncode})")
        result = json.loads(run["out"].read_text())
        snaps = run["snapshots"]
        if "measure_start" in snaps and "measure_end" in snaps:
            # This process's own CPU from its markers (its /proc entry may be gone by the
            # last one), the other load generators' (receivers) from /proc.
            marks = run["markers"]
            for event in ("measure_start", "measure_end"):
                others = sum(v for pid, v in snaps[event]["loadgen_by_pid"].items() if pid != process.pid)
                snaps[event]["cpu"]["loadgen"] = marks[event].get("cpu_s", 0) + others
            result["window"] = Probe.window(snaps["measure_start"], snaps["measure_end"])
        result["accepted_list"] = result.pop("accepted_posts", None) or []
        result["accepted"] = len(result["accepted_list"])
        result["snapshots"] = snaps
        return result

    def run(self, scenario: dict, timeout: float = 600) -> dict:
        result = self.finish(self.start(scenario), timeout)
        result.pop("accepted_list", None)
        return result

    def receipts(self, receivers: dict, poster: dict, *, settle: float = 1.0, timeout: float = 900) -> dict:
        """Subscribers in one process, the POSTs from another: a process busy with tens of
        thousands of receipts a second would delay its own requests and time them wrong.
        Both read the wall clock of this one machine; the client_id carries the run's tag."""
        import uuid

        tag = f"b{uuid.uuid4().hex[:8]}"
        listening = self.start(receivers | {"tag": tag, "external_posts": True})
        deadline = time.monotonic() + receivers.get("connect_timeout_s", 120) + 60
        while not listening["events"]["ready"].wait(0.5):
            if listening["process"].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the receiving load generator did not get ready")
        time.sleep(settle)
        posted: dict = {}
        try:
            posted = self.finish(self.start(poster | {"tag": tag}), timeout)
        finally:
            # Even when the poster failed, so that the receivers finish (with nothing expected).
            accepted = self.workdir / f"accepted-{self.count}.json"
            accepted.write_text(json.dumps(posted.get("accepted_list", [])))
            listening["process"].stdin.write(f"{accepted}\n")
            listening["process"].stdin.flush()
        received = self.finish(listening, timeout)
        posted.pop("accepted_list", None)
        posted["receipts"] = received["receipts"]
        posted["receiver_loadgen"] = received["loadgen"]
        posted["snapshots"]["ready"] = received["snapshots"].get("ready")
        return posted


def phase(result: dict, index: int = 0) -> dict:
    return result["phases"][index]


def med(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def lat(result: dict, key: str, index: int = 0) -> float | None:
    summary = phase(result, index).get("latency_ms") or {}
    return summary.get(key)


def bad_statuses(statuses: dict[str, int]) -> dict[str, int]:
    """Answers that are neither 2xx nor a 503 refusal: 500s, other errors, transport failures."""
    return {k: v for k, v in statuses.items() if not (k.startswith("2") or k == "503")}


def scenario_summary(name: str, target: str, figures: dict, measured: str, met: bool, result: dict) -> dict:
    """A scenario's entry in bench.json when it is one load generator run (`result`)."""
    window = result.get("window", {})
    return {
        "name": name,
        "target": target,
        "figures": figures,
        "measured": measured,
        "met": met,
        "limits": limit_text(window),
        "window": window,
        "runs": [result],
    }


# -- the benchmarks that run on their own (python -m bench NAME) ------------------------------
def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other work), {platform.system()}"


def results_write(name: str, result: dict) -> Path:
    """Writes bench/results/<name>.json and says so."""
    path = RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {path.relative_to(ROOT)}")
    return path


@contextlib.contextmanager
def worktree(ref: str) -> Iterator[Path]:
    """A git worktree of commit `ref`, with this tree's .env (its servers read their secrets
    from it), removed on exit: the code before a change, run on the same machine, services
    and load as this tree's."""
    with tempfile.TemporaryDirectory(prefix="bench-base-") as tmp:
        tree = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(tree), ref], check=True)
        try:
            if (ROOT / ".env").exists():
                shutil.copy(ROOT / ".env", tree / ".env")
            yield tree
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)


def database_kept(name: str) -> str:
    """The URL of database `name` on the project's PostgreSQL, created if it is not there: a
    benchmark's own, kept between runs so that its setup is paid once."""
    import psycopg
    from django.db import connections

    from core.database import database_url

    server = connections["default"].settings_dict
    with psycopg.connect(database_url(server | {"NAME": "postgres"}), autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone():
            conn.execute(f'create database "{name}"')
    return database_url(server | {"NAME": name})
