"""`make bench`: the seven scenarios of issue 9 against the product in production settings.

    .venv/bin/python -m bench                      # everything, ~15 minutes
    .venv/bin/python -m bench --scenarios 1,2 --quick

It builds the load generator (bench/loadgen, Go, cached under ~/.cache/messenger/), creates a
database of its own (bench_run, dropped at the end) with users, chats and API tokens, starts
the stack (bench/stack.py: nginx in front of granian, uvicorn and Centrifugo), runs each
scenario (bench/scenarios/) with the load generator on this same machine, samples the CPU of
every server process, of PostgreSQL and of the load generator itself (/proc) over each
measured window, and writes bench/results/bench.json and docs/performance.md, with charts
rendered into bench/results/*.png (not committed). A quick run or one of some scenarios only
writes the same files into a temporary directory (printed at the end).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import host_speed
from bench.measure import (
    CORES,
    DATABASE,
    RESULTS,
    ROOT,
    Loadgen,
    Probe,
    client_addresses,
    lat,
    limit_text,
    loadgen_binary,
    log,
    med,
    phase,
)
from bench.scenarios import SUITE


class Suite:
    """What the scenarios share: the arguments, the population, the stack, the probe and the
    load generator, and the measurement of POST → receipt (scenarios 2, 3, 4 and 7)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        # Only a whole run replaces the committed figures; a partial or quick one goes aside.
        self.complete = not args.quick and set(args.scenarios) == set(range(1, 8))
        self.out = RESULTS if self.complete else Path(tempfile.mkdtemp(prefix="bench-results-"))
        self.results: dict[str, dict] = {}
        self.stack = None
        self.pop = None
        self.restarts: list[str] = []
        self.still = host_speed.StillWatch()

    def seconds(self, full: float, quick: float) -> float:
        return quick if self.quick else full

    def setup(self) -> None:
        from django.db import connection

        from bench.population import chat_channels_available, population_create

        log("building the load generator")
        self.binary = loadgen_binary()
        self.channel_mode = self.args.channels
        if self.channel_mode == "auto":
            self.channel_mode = "chat" if chat_channels_available() else "personal"
        log(f"creating the database {DATABASE} (migrations)")
        connection.settings_dict["TEST"]["NAME"] = DATABASE
        self.old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        users = max(self.args.big_room, self.args.clients)
        log(
            f"creating {users} users with API tokens, {self.args.clients // 10} chats of 10, "
            f"a room of {self.args.big_room}"
        )
        self.pop = population_create(users=users, small_chat_clients=self.args.clients, big_room=self.args.big_room)
        log(f"population ready: {json.dumps({k: round(v, 1) for k, v in self.pop.timings.items()})}")
        from bench.stack import stack_start

        log("starting the stack (nginx, granian, uvicorn, Centrifugo; production settings)")
        self.stack = stack_start(profiled=bool(self.args.profile))
        self.probe = Probe(self.stack.roles)
        self.loadgen = Loadgen(self.binary, self.probe)
        log(f"stack up at {self.stack.url} ({type(self.stack).__name__}); channels: {self.channel_mode}")
        self.outbox_drain()
        self.warm_up()

    def warm_up(self, seconds: float = 3) -> None:
        """POSTs for a few seconds, not recorded, so that no scenario's first run also measures
        cold processes (code paths run once, token caches, pools, PostgreSQL's buffers and
        prepared statements), as api-throughput's warm-up does."""
        log(f"warming the stack up: {seconds:.0f} s of message POSTs, not recorded")
        http = {"posters": self.posters_small(), "concurrency": 32, "timeout_s": 10}
        http["phases"] = [{"name": "warm-up", "rate": 0, "duration_s": seconds}]
        self.loadgen.run(self.base(mode="post", label="warm-up", http=http))
        self.settle()

    def teardown(self) -> None:
        from django.db import connection

        if self.stack:
            self.stack.stop()
        if getattr(self, "old_name", None):
            connection.close()
            connection.creation.destroy_test_db(self.old_name, verbosity=0)

    def outbox_drain(self, timeout: float = 120) -> None:
        """Waits until Centrifugo has dispatched every queued event (setup's, a scenario's)."""
        from django.db import connection

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with connection.cursor() as cursor:
                cursor.execute("select count(*) from centrifugo_outbox")
                if cursor.fetchone()[0] == 0:
                    return
            time.sleep(0.3)
        log("the outbox did not drain in time")

    def quiesce(self, timeout: float = 20) -> None:
        """Waits until the servers are idle. An overloaded WSGI server is still answering the
        previous scenario's queued requests long after its clients gave up: after `timeout`
        it is restarted, so that the next scenario starts on a clean server."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            before = self.probe.snapshot()
            time.sleep(1.0)
            after = self.probe.snapshot()
            busy = sum(
                after["cpu"][k] - before["cpu"].get(k, 0) for k in ("web", "uvicorn", "centrifugo") if k in after["cpu"]
            )
            if busy < 0.1:
                return
        log(f"the servers did not go quiet in {timeout:.0f} s: restarting the WSGI server")
        self.stack.restart("web")
        self.restarts.append(time.strftime("%H:%M:%S"))

    def settle(self) -> None:
        self.outbox_drain()
        self.quiesce()

    def base(self, **extra: Any) -> dict:
        return {
            "base_url": self.stack.url,
            "ws_url": self.stack.ws_url,
            "origin": self.stack.origin,
            # One address per client: nginx admits per address, as it would real people.
            "source_addrs": client_addresses(max(self.args.clients, self.args.idle)),
        } | extra

    def posters_small(self) -> list[dict]:
        """Every member of every small chat, interleaved so that consecutive POSTs go to
        different chats."""
        pop = self.pop
        rows = []
        for slot in range(10):
            for chat_id, members in pop.small_chats:
                if slot < len(members):
                    rows.append({"token": pop.api_tokens[members[slot]], "chat_id": chat_id})
        return rows

    def subscribers_small(self) -> list[dict]:
        from bench.population import connection_token, subscriptions

        pop = self.pop
        rows = []
        for index in range(self.args.clients):
            uid, chat_id = pop.user_ids[index], pop.small_chat_of(index)
            rows.append(
                {
                    "token": connection_token(uid),
                    "channels": subscriptions(uid, [chat_id], self.channel_mode),
                    "chat_ids": [chat_id],
                }
            )
        return rows

    def receipt_run(
        self,
        *,
        label: str,
        mode: str,
        base: dict,
        subscribers: list[dict],
        posters: list[dict],
        rate: float | None = None,
        duration: float | None = None,
        concurrency: int = 64,
    ) -> dict:
        """One run of scenario 2's measurement: `rate` POSTs a second (0: closed loop)."""
        rate = self.args.rate if rate is None else rate
        duration = duration or self.seconds(60, 15)
        http = {
            "posters": posters,
            "concurrency": concurrency,
            "timeout_s": 10,
            "phases": [{"name": f"{rate:g}/s" if rate else "saturation", "rate": rate, "duration_s": duration}],
        }
        receivers = base | {
            "mode": mode,
            "label": label,
            "subscribers": subscribers,
            "drain_s": 10,
            "connect_concurrency": 200,
        }
        return self.loadgen.receipts(receivers, base | {"mode": "post", "label": label, "http": http})

    def receipt_summary(self, runs: list[dict]) -> dict:
        def rec(r: dict, key: str) -> Any:
            return (r["receipts"].get("latency_ms") or {}).get(key)

        middle = runs[len(runs) // 2]
        window = middle.get("window", {})
        received = med([r["receipts"]["received"] for r in runs]) or 0
        server_cpu = med([r.get("window", {}).get("server_cpu_s") for r in runs])

        def waited_ms_per_message(r: dict, *, loadgen: bool) -> float | None:
            waits, accepted = r.get("window", {}).get("run_queue_wait_s"), r.get("accepted")
            if not waits or not accepted:
                return None
            return round(1000 * sum(v for k, v in waits.items() if (k == "loadgen") == loadgen) / accepted, 3)

        figures = {
            "receipt_p50_ms": med([rec(r, "p50") for r in runs]),
            "receipt_p90_ms": med([rec(r, "p90") for r in runs]),
            "receipt_p99_ms": med([rec(r, "p99") for r in runs]),
            "receipt_max_ms": med([rec(r, "max") for r in runs]),
            "post_p50_ms": med([lat(r, "p50") for r in runs]),
            "post_p99_ms": med([lat(r, "p99") for r in runs]),
            "lost": sum(r["receipts"]["lost"] for r in runs),
            "duplicated": sum(r["receipts"]["duplicated"] for r in runs),
            "expected": med([r["receipts"]["expected"] for r in runs]),
            "received": received,
            "ready": min(r["receipts"]["ready"] for r in runs),
            "accepted": med([r["accepted"] for r in runs]),
            # POSTs answered other than 2xx (503 mostly), every run's together.
            "not_accepted": sum(
                count for r in runs for status, count in phase(r)["statuses"].items() if not status.startswith("2")
            ),
            "statuses": phase(middle)["statuses"],
            "connect_per_s": med([r["receipts"]["connect_per_s"] for r in runs]),
            "server_cpu_s": server_cpu,
            "server_cpu_ms_per_delivery": round(1000 * server_cpu / received, 4) if server_cpu and received else None,
            "loadgen_cores": window.get("cores", {}).get("loadgen"),
            # Where a tail can come from on a shared machine: how long the servers' threads (and
            # the load generator's) were ready but waited for a CPU, per accepted message.
            "cpu_pressure_share": med([r.get("window", {}).get("cpu_pressure_share") for r in runs]),
            "server_run_queue_wait_ms_per_message": med([waited_ms_per_message(r, loadgen=False) for r in runs]),
            "loadgen_run_queue_wait_ms_per_message": med([waited_ms_per_message(r, loadgen=True) for r in runs]),
            "runs": len(runs),
        }
        limits = limit_text(window)
        pressure, waited = figures["cpu_pressure_share"], figures["server_run_queue_wait_ms_per_message"]
        if pressure is not None and waited is not None:
            limits += (
                f"; some task waited for a CPU {pressure:.0%} of the time, the servers' threads"
                f" {waited:.1f} ms per message in all"
            )
        return {"figures": figures, "limits": limits, "window": window, "runs": runs}

    def run(self) -> None:
        began = time.monotonic()
        wanted = self.args.scenarios
        needs_stack = any(n in wanted for n in (1, 2, 3, 4, 5, 7))
        self.still.start()
        try:
            if needs_stack:
                self.setup()
            for number in (1, 2, 3, 4, 5, 7):
                if number in wanted:
                    self.results[str(number)] = self.guard(number, SUITE[number].run)
                    log(f"scenario {number} done [{time.monotonic() - began:.0f} s]")
        finally:
            self.teardown()
        if 6 in wanted:  # its own servers: after the stack has stopped
            self.results["6"] = self.guard(6, SUITE[6].run)
        self.still.stop()
        self.elapsed = time.monotonic() - began
        log(f"all scenarios done in {self.elapsed:.0f} s")

    def guard(self, number: int, fn: Callable[["Suite"], dict]) -> dict:
        """A failing scenario is reported as such; the others still run. Either way the
        result carries the host's speed as the scenario began (bench.host_speed)."""
        host_reference_ms = host_speed.reference_ms()
        began = time.time()
        result = self._run_one(number, fn)
        stood_still = self.still.between(began, time.time())
        return result | {"host_reference_ms": host_reference_ms, "machine_stood_still_s": stood_still}

    def _run_one(self, number: int, fn: Callable[["Suite"], dict]) -> dict:
        try:
            return fn(self)
        except Exception as exc:
            import traceback

            traceback.print_exc()
            return {
                "name": f"scenario {number}",
                "measured": f"failed: {exc}",
                "met": False,
                "limits": "",
                "figures": {},
            }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", default="1,2,3,4,5,6,7", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--quick", action="store_true", help="short phases (a smoke run, not figures)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of scenario 1 (medians)")
    parser.add_argument("--repeat-latency", type=int, default=1, help="runs of scenario 2 (60 s each)")
    parser.add_argument("--clients", type=int, default=1000, help="WebSocket clients of scenarios 2, 3, 7")
    parser.add_argument("--rate", type=float, default=200, help="messages per second of scenario 2")
    parser.add_argument(
        "--high-rate",
        type=float,
        default=500,
        help="messages per second of scenario 2's one run at a high rate (0: none)",
    )
    parser.add_argument(
        "--peer-rate", type=float, default=100, help="messages per second of scenario 7 (a rate every peer sustains)"
    )
    parser.add_argument("--big-room", type=int, default=10_000, help="members of scenario 4's room")
    # nginx holds about 10,000 WebSockets here (two workers of 10,000 connections, two per
    # proxied WebSocket) and then refuses every other request: 8,000 leaves room for the POSTs.
    parser.add_argument("--big-room-clients", type=int, default=8_000, help="of them connected")
    parser.add_argument("--idle", type=int, default=20_000, help="idle clients of scenario 5")
    parser.add_argument("--channels", choices=["auto", "chat", "personal"], default="auto")
    parser.add_argument(
        "--profile",
        type=float,
        default=0,
        metavar="SECONDS",
        help="Centrifugo's CPU profile (Go's profiler) over SECONDS of each scenario 2 run, CPU ms per message",
    )
    args = parser.parse_args(argv)

    os.environ["DJANGO_SETTINGS_MODULE"] = "messenger.settings.production"
    import django

    django.setup()
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    from bench import report

    host_at_start = host_speed.reference_ms()
    bench = Suite(args)
    bench.run()

    meta = {
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": CORES,
        "elapsed_s": round(bench.elapsed),
        "quick": args.quick,
        "channels": getattr(bench, "channel_mode", None),
        "load_average": os.getloadavg(),
        "host_reference_ms": [host_at_start, host_speed.reference_ms()],
        "git": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
    }
    complete, out = bench.complete, bench.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(
        json.dumps({"meta": meta, "scenarios": bench.results}, indent=1, default=str) + "\n"
    )
    charts = report.charts(bench.results, out)
    docs = ROOT / "docs" / "performance.md" if complete else out / "performance.md"
    report.performance_md(meta, bench.results, charts, docs)
    log(f"wrote {out / 'bench.json'}, its charts and {docs}")
    for number, result in sorted(bench.results.items()):
        verdict = {True: "MET", False: "NOT MET", None: "n/a"}[result.get("met")]
        print(f"  {number}. {result.get('name')}: {verdict}: {result.get('measured')}")
    shutil.rmtree(bench.loadgen.workdir, ignore_errors=True) if hasattr(bench, "loadgen") else None


if __name__ == "__main__":
    main()
