"""Polling, long polling, SSE and WebSocket, side by side, with nginx + Nchan as the peer.

    .venv/bin/python -m bench.transports [--clients 100,1000] [--rates 1,20] [--duration 10] [--repeat 3]

For every cell (N clients x R messages per second x transport) it connects N clients (one
user each, in chats of 10), posts R messages per second through the chat service for
`--duration` seconds (each message is one event for the chat's 10 members), and measures:
requests per second reaching the server, the server's CPU seconds (from /proc: uvicorn;
nginx + the relay; Centrifugo) and PostgreSQL's, bytes on the wire per delivered event,
and delivery latency p50/p99 (arrival minus the event's `ts`). With `--repeat N` every cell
runs N times, the transports taking turns (so a noisy minute on a shared machine hits them
alike), and the figures are each cell's medians (every run kept under "runs"). With
`--gc-every S` the feed process makes its timed full collection (edge.feed_gc) every S
seconds instead of every 15 minutes, and each cell reports those pauses. It uses a
database of its own (created and dropped), loopback ports only, and writes
bench/results/transports.json (the chart bench/results/transports.png beside it, not
committed).
"""

import argparse
import asyncio
import json
import logging
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import procs
from bench.procs import cpu_seconds
from bench.stats import percentile

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
CHAT_SIZE = 10

TRANSPORTS = {
    # name: (stack, label)
    "poll-1s": ("django", "polling every 1 s"),
    "poll-5s": ("django", "polling every 5 s"),
    "long-poll": ("django", "long polling (async Django)"),
    "sse": ("django", "SSE (async Django)"),
    "nchan-long-poll": ("nchan", "long polling (nginx + Nchan)"),
    "nchan-sse": ("nchan", "SSE (nginx + Nchan)"),
    "ws": ("centrifugo", "WebSocket (Centrifugo)"),
}


def postgres_cpu() -> float:
    """The whole PostgreSQL cluster's CPU seconds (its own database's and any other work on it)."""
    return procs.postgres_cpu(Path(os.environ.get("MESSENGER_STATE_DIR", ROOT / ".state")))


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.results: list[dict] = []
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-transports-"))
        # --pool: the Django server pools its connections, as the web processes do,
        # instead of opening one per request.
        self.server_env = {"DB_POOL_MAX_SIZE": "8"} if args.pool else {}
        if args.gc_every:
            self.server_env["REALTIME_FEED_GC_FULL_COLLECT_SECONDS"] = str(args.gc_every)

    # -- setup ---------------------------------------------------------------------------
    def setup_database(self, users: int) -> None:
        from django.db import connection

        from accounts.models import User
        from accounts.services import tokens_create
        from chats.services import chat_create

        self.old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        accounts = User.objects.bulk_create(
            [User(username=f"bench{i}", email=f"bench{i}@example.com", password="!") for i in range(users)]  # noqa: S106 (unusable)
        )
        self.users = list(User.objects.order_by("id"))
        self.tokens = tokens_create(users=accounts)
        self.chats = []
        self.chat_of: dict[int, int] = {}  # user id -> the one chat they are in
        for start in range(0, users, CHAT_SIZE):
            group = self.users[start : start + CHAT_SIZE]
            chat = chat_create(created_by=group[0], title=f"bench {start}", member_ids=[u.pk for u in group[1:]])
            self.chats.append((chat, group[0]))
            self.chat_of.update((u.pk, chat.pk) for u in group)
        connection.close()

    def start_servers(self) -> None:
        from django.db import connection

        from bench.peers.nchan.server import NchanServer
        from core.database import database_url
        from testing.site import UvicornServer

        self.django = UvicornServer(log_path=self.server_log).start(**self.server_env)
        self.nchan = NchanServer().start()
        env = os.environ | {"DATABASE_URL": database_url(connection.settings_dict, sslmode="disable")}
        self.relay = subprocess.Popen(
            [sys.executable, "-m", "bench.peers.nchan.relay", self.nchan.url],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=(self.workdir / "relay.log").open("ab"),
            text=True,
        )
        if self.relay.stdout.readline().strip() != "relay: ready":
            raise RuntimeError("the Nchan relay did not start")
        self.centrifugo = None
        try:
            from testing.centrifugo import CentrifugoServer

            self.centrifugo = CentrifugoServer(workdir=self.workdir / "centrifugo")
            self.centrifugo.start()
        except Exception as exc:
            print(f"  Centrifugo not available, the WebSocket rows are skipped: {exc}", flush=True)
            self.centrifugo = None

    def stop_servers(self) -> None:
        for server in (getattr(self, "django", None), getattr(self, "nchan", None), getattr(self, "centrifugo", None)):
            try:
                if server is not None:
                    server.stop()
            except Exception as exc:
                print(f"  could not stop {server}: {exc}", flush=True)
        relay = getattr(self, "relay", None)
        if relay is not None:
            relay.kill()
            relay.wait(timeout=10)

    def drop_database(self) -> None:
        from django.db import connection

        if getattr(self, "old_name", None):
            connection.creation.destroy_test_db(self.old_name, verbosity=0)

    def server_pids(self, stack: str) -> list[int]:
        if stack == "django":
            return [self.django.process.pid]
        if stack == "nchan":
            return [*self.nchan.pids(), self.relay.pid]
        return [self.centrifugo.process.pid] if self.centrifugo and self.centrifugo.process else []

    # -- one cell ------------------------------------------------------------------------
    async def start_publisher(self, *, clients: int, rate: float, duration: float) -> asyncio.subprocess.Process:
        """The publisher process (bench/transports/publisher.py), ready to go."""
        from django.db import connection

        from core.database import database_url

        chats = ",".join(f"{chat.pk}:{author.pk}" for chat, author in self.chats[: clients // CHAT_SIZE])
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.transports.publisher",
            f"--rate={rate}",
            f"--duration={duration}",
            f"--chats={chats}",
            cwd=ROOT,
            env=os.environ | {"DATABASE_URL": database_url(connection.settings_dict, sslmode="disable")},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        if (await process.stdout.readline()).strip() != b"ready":
            raise RuntimeError("the publisher did not start")
        return process

    def head(self) -> int:
        from django.db import connection

        from realtime.selectors import event_log_bounds

        try:
            return event_log_bounds().head
        finally:
            connection.close()

    def factories(self, transport: str, clients: int, stats, cursor: int) -> list:
        from bench.transports import clients as c
        from realtime.services import chat_channel
        from realtime.tokens import connection_token_issue, subscription_token_issue

        host, port = "127.0.0.1", self.django.port
        users = self.users[:clients]
        django = {"host": host, "port": port, "cursor": cursor, "stats": stats}
        if transport in ("poll-1s", "poll-5s"):
            interval = 1.0 if transport == "poll-1s" else 5.0
            return [c.django_poll(**django, token=self.tokens[u.pk], interval=interval) for u in users]
        if transport == "long-poll":
            return [c.django_long_poll(**django, token=self.tokens[u.pk]) for u in users]
        if transport == "sse":
            return [c.django_sse(**django, token=self.tokens[u.pk]) for u in users]
        if transport == "nchan-long-poll":
            return [c.nchan_long_poll(host=host, port=self.nchan.port, user_id=u.pk, stats=stats) for u in users]
        if transport == "nchan-sse":
            return [c.nchan_sse(host=host, port=self.nchan.port, user_id=u.pk, stats=stats) for u in users]

        def channels(user) -> dict[str, str]:
            name = chat_channel(self.chat_of[user.pk])
            return {name: subscription_token_issue(user=user, channel=name)["token"]}

        return [
            c.centrifugo_ws(
                url=self.centrifugo.ws_url,
                user_id=u.pk,
                token=connection_token_issue(user=u)["token"],
                channels=channels(u),
                stats=stats,
            )
            for u in users
        ]

    async def cell(self, transport: str, clients: int, rate: float) -> dict:
        from bench.transports.clients import Stats, run_clients, stop_clients

        stack, _ = TRANSPORTS[transport]
        duration = self.args.duration
        if stack == "django":
            # A fresh process per cell: a saturated one is still answering the previous
            # cell's queued requests long after its clients left.
            from testing.site import UvicornServer

            self.django.stop()
            self.django = UvicornServer(log_path=self.server_log).start(**self.server_env)
        stats = Stats()
        cursor = await asyncio.to_thread(self.head)
        publisher = await self.start_publisher(clients=clients, rate=rate, duration=duration)
        tasks = await run_clients(self.factories(transport, clients, stats, cursor))
        # Until every client has connected or sent its first request, and then until the
        # server has dealt with them (its CPU goes quiet; pollers keep it busy: one period).
        pids = self.server_pids(stack)
        deadline = time.monotonic() + 30
        while stats.requests < clients and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if transport.startswith("poll-"):
            await asyncio.sleep(1.5 if transport == "poll-1s" else 5.5)
        else:
            while time.monotonic() < deadline:
                before = cpu_seconds(pids)
                await asyncio.sleep(0.5)
                if cpu_seconds(pids) - before < 0.1:
                    break
        load_before = os.getloadavg()[0]
        log_offset = self.server_log.stat().st_size if self.server_log.exists() else 0
        start = time.time()
        stats.reset(start)
        cpu0, pg0 = cpu_seconds(pids), postgres_cpu()
        publisher.stdin.write(b"go\n")
        await publisher.stdin.drain()
        sent = int((await publisher.stdout.readline()).strip())
        await publisher.wait()
        stats.window_end = time.time()
        await asyncio.sleep(6.0 if transport == "poll-5s" else 2.0)  # deliveries still on their way
        elapsed = time.time() - start
        cpu, pg = cpu_seconds(pids) - cpu0, postgres_cpu() - pg0
        snapshot = (stats.requests, stats.responses, stats.bytes, stats.delivered, stats.errors, list(stats.latencies))
        refused, duplicates = dict(stats.refused), stats.duplicates
        await stop_clients(tasks)
        requests, responses, sent_bytes, delivered, errors, latencies = snapshot
        expected = sent * CHAT_SIZE
        return {
            "transport": transport,
            "stack": stack,
            "clients": clients,
            "rate": rate,
            "seconds": round(elapsed, 2),
            "messages": sent,
            "expected_deliveries": expected,
            "delivered": delivered,
            "delivered_ratio": round(delivered / expected, 4) if expected else None,
            "requests_per_s": round(requests / elapsed, 1),
            "answered_per_s": round(responses / elapsed, 1),
            "server_cpu_s": round(cpu, 2),
            "server_cpu_ms_per_event": round(1000 * cpu / delivered, 3) if delivered else None,
            "postgres_cpu_s": round(pg, 2),
            "bytes_per_event": round(sent_bytes / delivered) if delivered else None,
            "latency_p50_ms": round(1000 * percentile(latencies, 50), 1) if latencies else None,
            "latency_p99_ms": round(1000 * percentile(latencies, 99), 1) if latencies else None,
            "client_errors": errors,
            "refused": {str(status): count for status, count in sorted(refused.items())},
            "duplicates": duplicates,
            "lost": max(0, expected - delivered),
            "django_pool": self.args.pool if stack == "django" else None,
            # The feed process's timed full collections in the window (edge.feed_gc; --gc-every).
            "gc_full_collection_ms": self.gc_pauses(log_offset) if stack == "django" else None,
            # The machine's 1-minute load average (2 CPUs, shared with other work).
            "load_average": round((load_before + os.getloadavg()[0]) / 2, 2),
        }

    @property
    def server_log(self) -> Path:
        return self.workdir / "uvicorn.log"

    def gc_pauses(self, offset: int) -> list[int]:
        with self.server_log.open("rb") as log:
            log.seek(offset)
            return [int(ms) for ms in re.findall(rb"feed gc: collected .* in (\d+) ms", log.read())]

    async def run(self) -> None:
        cells = [
            (transport, clients, rate)
            for _ in range(self.args.repeat)
            for clients in self.args.clients
            for rate in self.args.rates
            for transport in self.args.transports
            if transport != "ws" or self.centrifugo is not None
        ]
        began = time.monotonic()
        for index, (transport, clients, rate) in enumerate(cells, 1):
            print(f"[{index}/{len(cells)}] {clients} clients, {rate:g} msg/s, {transport} ...", end=" ", flush=True)
            result = await self.cell(transport, clients, rate)
            self.results.append(result)
            print(
                f"{result['requests_per_s']} req/s ({result['answered_per_s']} answered),"
                f" cpu {result['server_cpu_s']} s (pg {result['postgres_cpu_s']}),"
                f" {result['bytes_per_event']} B/event, p50 {result['latency_p50_ms']} ms,"
                f" p99 {result['latency_p99_ms']} ms, delivered {result['delivered']}/{result['expected_deliveries']}"
                f" refused {result['refused']} dup {result['duplicates']}"
                + (f" gc {result['gc_full_collection_ms']} ms" if result["gc_full_collection_ms"] else "")
                + f" [{time.monotonic() - began:.0f} s]",
                flush=True,
            )
            await asyncio.sleep(1.0)


# Figures of a cell that are medians over its runs; the rest are the first run's.
MEDIAN_FIELDS = (
    "seconds",
    "messages",
    "expected_deliveries",
    "delivered",
    "delivered_ratio",
    "requests_per_s",
    "answered_per_s",
    "server_cpu_s",
    "server_cpu_ms_per_event",
    "postgres_cpu_s",
    "bytes_per_event",
    "latency_p50_ms",
    "latency_p99_ms",
    "client_errors",
    "duplicates",
    "lost",
    "load_average",
)


def _median(values: list[float]) -> float | None:
    """Counts stay whole numbers where the median is one."""
    if not values:
        return None
    median = statistics.median(values)
    return int(median) if all(isinstance(v, int) for v in values) and median == int(median) else round(median, 3)


def medians(runs: list[dict]) -> list[dict]:
    """One row per cell (transport, clients, rate): each figure's median over its runs (the
    refusals summed), each run's p99, CPU per event and load beside it, and the run count."""
    cells: dict[tuple, list[dict]] = {}
    for row in runs:
        cells.setdefault((row["transport"], row["clients"], row["rate"]), []).append(row)
    out = []
    for rows in cells.values():
        row = dict(rows[0], runs=len(rows))
        for key in MEDIAN_FIELDS:
            row[key] = _median([r[key] for r in rows if r.get(key) is not None])
        for key in ("latency_p99_ms", "server_cpu_ms_per_event", "load_average"):
            row[f"{key}_each"] = [r.get(key) for r in rows]
        statuses = sorted({status for r in rows for status in r["refused"]})
        row["refused"] = {status: sum(r["refused"].get(status, 0) for r in rows) for status in statuses}
        out.append(row)
    return out


def summary(rows: list[dict]) -> str:
    """The medians, a line per cell: latency, CPU per delivered event, deliveries, load."""
    lines = [
        f"{'clients':>7} {'msg/s':>5} {'transport':<16} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/event':>12} "
        f"{'delivered':>11} {'runs':>4}  load (each run)"
    ]
    for r in rows:
        lines.append(
            f"{r['clients']:>7} {r['rate']:>5g} {r['transport']:<16}"
            f" {r['latency_p50_ms']!s:>8} {r['latency_p99_ms']!s:>8}"
            f" {r['server_cpu_ms_per_event']!s:>12} {r['delivered']!s:>5}/{r['expected_deliveries']!s:<5}"
            f" {r['runs']:>4}  {r['load_average_each']}"
        )
    return "\n".join(lines)


def chart(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    transports = list(dict.fromkeys(r["transport"] for r in results))
    groups = list(dict.fromkeys((r["clients"], r["rate"]) for r in results))
    metrics = [
        ("requests_per_s", "requests/s reaching the server", True),
        ("server_cpu_ms_per_event", "server CPU ms per delivered event", True),
        ("bytes_per_event", "bytes on the wire per delivered event", True),
        ("latency_p99_ms", "delivery latency p99 (ms)", True),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(15, 9))
    width = 0.8 / len(transports)
    for ax, (key, title, log) in zip(axes.flat, metrics, strict=True):
        for index, transport in enumerate(transports):
            values = []
            for clients, rate in groups:
                row = next(
                    (r for r in results if (r["transport"], r["clients"], r["rate"]) == (transport, clients, rate)),
                    None,
                )
                values.append((row or {}).get(key) or 0)
            ax.bar([g + index * width for g in range(len(groups))], values, width, label=TRANSPORTS[transport][1])
        ax.set_xticks([g + width * (len(transports) - 1) / 2 for g in range(len(groups))])
        ax.set_xticklabels([f"{c} clients\n{r:g} msg/s" for c, r in groups])
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("One event feed, seven ways to deliver it (bench/transports)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="100,1000", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--rates", default="1,20", type=lambda s: [float(x) for x in s.split(",")])
    parser.add_argument("--transports", default=",".join(TRANSPORTS), type=lambda s: s.split(","))
    parser.add_argument("--duration", default=10.0, type=float, help="seconds of publishing per cell")
    parser.add_argument("--pool", action="store_true", help="the Django server with a PostgreSQL connection pool")
    parser.add_argument(
        "--gc-every", default=None, type=float, help="the feed's timed full collection every S seconds (its pause)"
    )
    parser.add_argument("--repeat", default=1, type=int, help="runs of every cell; the figures are their medians")
    parser.add_argument("--out", default=None, help="default bench/results/transports[_pool].json")
    args = parser.parse_args()
    args.out = args.out or str(RESULTS / ("transports_pool.json" if args.pool else "transports.json"))
    unknown = set(args.transports) - set(TRANSPORTS)
    if unknown:
        parser.error(f"unknown transports: {', '.join(sorted(unknown))}")

    os.environ["DJANGO_SETTINGS_MODULE"] = "messenger.settings.test"
    os.environ["TEST_DATABASE_NAME"] = "bench_transports"
    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # 1,000 clients and the servers' sockets; the servers inherit the limit.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    # Stopped from outside (timeout, kill): still stop the servers and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    bench = Bench(args)
    print(f"Setting up {max(args.clients)} users in chats of {CHAT_SIZE} ...", flush=True)
    try:
        bench.setup_database(max(args.clients))
        bench.start_servers()
        asyncio.run(bench.run())
    except BaseException:
        print(f"Server logs kept in {bench.workdir}", flush=True)
        raise
    else:
        shutil.rmtree(bench.workdir, ignore_errors=True)
    finally:
        bench.stop_servers()
        bench.drop_database()

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results = medians(bench.results)
    meta = {
        "command": " ".join(["python -m bench.transports", *sys.argv[1:]]),
        "chat_size": CHAT_SIZE,
        "django_pool": args.pool,
        "duration_s": args.duration,
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    out.write_text(json.dumps({"meta": meta, "results": results, "runs": bench.results}, indent=2) + "\n")
    chart(results, out.with_suffix(".png"))
    print(f"Medians of {args.repeat} run(s) per cell:\n{summary(results)}")
    print(f"Wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
