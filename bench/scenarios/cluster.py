"""Scenario 2 of the fast-path issue (POST -> WebSocket receipt; N clients in chats of 10,
a fixed message rate) on the cluster profile beside the single node, so the cost of the
extra hops is known.

    .venv/bin/python -m bench cluster                        # both profiles, 1000 clients, 200 msg/s, 10 s
    .venv/bin/python -m bench cluster --profile cluster --clients 1000 --rate 200 --seconds 10
    .venv/bin/python -m bench cluster --profile cluster --serve   # start it, print its URL, wait
    .venv/bin/python -m bench cluster --profile cluster --idle 50000   # idle WebSockets held instead

`--profile single`: nginx + granian + uvicorn + one Centrifugo (testing.site.SiteServer, as
`make run`). `--profile cluster`: ops.cluster, two nodes of each kind in network namespaces
(loopback addresses without CAP_NET_ADMIN), PgBouncer, Redis engine on two shards. Both on
a database of their own (bench_cluster, dropped at the end), both reached only through
nginx: the clients connect to /connection/websocket (nginx spreads them over the Centrifugo
nodes), the POSTs go to /api/ (nginx spreads them over the web nodes). A client subscribes to
`chat:<id>` with a subscription token, as the page does. Posts leave on a fixed schedule
(open loop, at most --concurrency in flight); a sample is one client's receipt of the
message, timed from its POST. The Go load generator (bench/loadgen, the bench helper's) can
run the same scenario against `--serve`'s URL; this script needs only Python.
Writes bench/results/cluster_bench.json.

`--idle N` instead holds N idle WebSockets (each subscribed to its own personal channel, one
source address per client) through the profile's nginx, from Go load generators of at most
IDLE_PER_LOADGEN sockets each, for `--seconds`, then reports how many were held and the RSS
per connection of nginx and of Centrifugo; the profile is sized for them (EDGE_MAX_WEBSOCKETS
= N: nginx's workers, Centrifugo processes per node). Writes bench/results/cluster_idle.json.
"""

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from centrifuge import Client, SubscriptionEventHandler
from django.db import connection

from accounts.models import User
from accounts.services import token_create
from bench.stats import percentile
from chats.services import chat_create
from ops.cluster import ClusterConfig, ClusterRun, Layout, free_subnet, namespaces_down, namespaces_up
from realtime.models import CentrifugoOutbox
from realtime.tokens import connection_token_issue, subscription_token_issue
from testing.centrifugo import CentrifugoServer
from testing.processes import free_port
from testing.site import SiteServer

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "cluster_bench.json"
# One poster sends every message of the scenario: its per-user limit would measure the throttle.
NO_THROTTLE = {"THROTTLE_RATE_MESSAGE_POST": "1000000/min"}


class Profile:
    """A running site: `url` is nginx's."""

    url: str

    def stop(self) -> None: ...


class SingleProfile(Profile):
    def __init__(self, workdir: Path) -> None:
        self.site = SiteServer(workdir=workdir, settings_module="messenger.settings.local")
        self.site.start(CENTRIFUGO_ENGINE="redis", **NO_THROTTLE)
        self.centrifugo = CentrifugoServer(
            engine="redis",
            origin=self.site.url,
            redis_prefix=f"bench-{uuid.uuid4().hex[:8]}",
            workdir=workdir / "centrifugo",
            log_level="warn",
            port=self.site.centrifugo_port,
            internal_port=self.site.centrifugo_internal_port,
        )
        self.centrifugo.start()
        self.url = self.site.url

    def stop(self) -> None:
        self.centrifugo.stop()
        self.site.stop()


class ClusterProfile(Profile):
    def __init__(self, workdir: Path) -> None:
        self.prefix, self.subnet = free_subnet()
        isolated = namespaces_up(prefix=self.prefix, subnet=self.subnet)
        subnet = self.subnet if isolated else f"127.{self.subnet.split('.')[1]}.0"
        workdir.chmod(0o755)  # PgBouncer runs as postgres
        from django.core.management import call_command
        from django.test import override_settings

        static = workdir / "static"
        with override_settings(STATIC_ROOT=static):
            call_command("collectstatic", interactive=False, link=True, verbosity=0)
        self.config = ClusterConfig(
            layout=Layout.make(isolated=isolated, prefix=self.prefix, subnet=subnet),
            state_dir=workdir,
            web_port=free_port(),
            database=dict(connection.settings_dict),
            redis_prefix=f"bench-{uuid.uuid4().hex[:8]}",
            static_root=static,
            extra_env=NO_THROTTLE,
        )
        self.isolated = isolated
        self.run = ClusterRun(self.config).start_all()
        self.url = self.config.site_url

    def stop(self) -> None:
        self.run.stop_all()
        namespaces_down(prefix=self.prefix, subnet=self.subnet)


# Sockets per load generator process: below the per-process descriptor limit (20,000 here).
IDLE_PER_LOADGEN = 18_000
IDLE_RESULTS = ROOT / "bench" / "results" / "cluster_idle.json"


def idle_roles(profile: Profile) -> dict[str, list[int]]:
    """nginx's master and workers, and every Centrifugo process of the profile (by pid)."""
    from bench import procs

    if isinstance(profile, SingleProfile):
        nginx, centrifugo = profile.site.nginx.process.pid, [profile.centrifugo.process.pid]
        return {"nginx": procs.tree(nginx), "centrifugo": centrifugo}
    run = profile.run

    def pid(name: str) -> int:
        value = run.ctl("pid", name, check=False).strip()
        return int(value) if value.isdigit() and value != "0" else 0

    centrifugo = [pid(name) for _, _, name in profile.config.centrifugo_instances()]
    nginx = pid("nginx")
    return {"nginx": procs.tree(nginx) if nginx else [], "centrifugo": [p for p in centrifugo if p]}


def idle_scenario(profile: Profile, *, clients: int, seconds: float) -> dict[str, Any]:
    """`clients` idle WebSockets through the profile's nginx, held for `seconds`."""
    from bench.measure import Loadgen, Probe, client_addresses, loadgen_binary
    from bench.population import connection_token
    from realtime import services

    loadgen = Loadgen(loadgen_binary(), Probe(lambda: idle_roles(profile)))
    before = loadgen.probe.snapshot()
    processes = -(-clients // IDLE_PER_LOADGEN)
    per = -(-clients // processes)
    base = {
        "base_url": profile.url,
        "ws_url": profile.url.replace("http://", "ws://") + "/connection/websocket",
        "origin": profile.url,
        "source_addrs": client_addresses(clients),
    }
    runs = []
    started = time.monotonic()
    for p in range(processes):
        rows = [
            {
                "token": connection_token(uid),
                "channels": [{"channel": services.personal_channel(uid), "token": ""}],
                "chat_ids": [],
            }
            for uid in range(1 + p * per, 1 + min(clients, (p + 1) * per))
        ]
        scenario = {
            "mode": "idle",
            "label": f"idle {p + 1}",
            "subscribers": rows,
            "hold_s": seconds + 300,
            "connect_concurrency": 250,
            "connect_timeout_s": 240,
        }
        runs.append(loadgen.start(base | scenario))
    for run in runs:
        run["events"]["held"].wait(timeout=300)
    time.sleep(min(seconds, 5))
    held = loadgen.probe.snapshot()
    connected = sum(r["markers"].get("held", {}).get("connected", 0) for r in runs)
    connect_s = max(r["markers"].get("held", {}).get("connect_s", 0) for r in runs)
    time.sleep(max(0.0, seconds - 5))
    still = loadgen.probe.snapshot()
    results = [loadgen.finish(r) for r in runs]
    per_conn = {
        role: round((held["rss"].get(role, 0) - before["rss"].get(role, 0)) / max(connected, 1) / 1024, 1)
        for role in ("nginx", "centrifugo")
    }
    return {
        "target_clients": clients,
        "held": connected,
        "ready_at_end": sum(r["receipts"]["ready"] for r in results),
        "disconnects": sum(r["receipts"]["disconnects"] for r in results),
        "subscribe_errors": sum(r["receipts"]["subscribe_errors"] for r in results),
        "connect_s": round(connect_s, 1),
        "rss_kib_per_connection": per_conn,
        "rss_mb_held": {role: round(held["rss"].get(role, 0) / 2**20, 1) for role in ("nginx", "centrifugo")},
        "rss_mb_at_end": {role: round(still["rss"].get(role, 0) / 2**20, 1) for role in ("nginx", "centrifugo")},
        "loadgen_processes": processes,
        "centrifugo_processes": len(idle_roles(profile)["centrifugo"]),
        "nginx_processes": len(held and idle_roles(profile)["nginx"]),
        "wall_s": round(time.monotonic() - started, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def population(n_clients: int, chat_size: int) -> tuple[str, list[tuple[int, list[int]]]]:
    tag = uuid.uuid4().hex[:6]
    poster = User.objects.create_user(username=f"bench-poster-{tag}", email=f"poster-{tag}@example.com")
    readers = User.objects.bulk_create(
        [User(username=f"bench-{tag}-{i}", email=f"bench-{tag}-{i}@example.com") for i in range(n_clients)]
    )
    chats = []
    for start in range(0, n_clients, chat_size):
        members = [user.pk for user in readers[start : start + chat_size]]
        chats.append((chat_create(created_by=poster, title=f"bench {start}", member_ids=members).pk, members))
    return token_create(user=poster), chats


def wait_outbox_empty(timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while CentrifugoOutbox.objects.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the outbox did not drain")
        time.sleep(0.2)


def summary(values: list[float]) -> dict[str, float | None]:
    ms = sorted(v * 1000 for v in values)
    pick = {"p50": 50, "p99": 99}
    out: dict[str, float | None] = {k: (round(percentile(ms, p), 1) if ms else None) for k, p in pick.items()}
    out["max"] = round(ms[-1], 1) if ms else None
    return out


async def scenario(*, url: str, token: str, chats, rate: float, seconds: float, concurrency: int) -> dict[str, Any]:
    ws_url = url.replace("http://", "ws://") + "/connection/websocket"
    sent_at: dict[str, float] = {}
    received: dict[str, int] = {}
    samples: list[float] = []
    fanout_of: dict[str, int] = {}

    class SubEvents(SubscriptionEventHandler):
        async def on_publication(self, ctx) -> None:
            data = ctx.pub.data
            if data.get("type") == "message.created" and (client_id := data["data"].get("client_id")) in sent_at:
                samples.append(time.perf_counter() - sent_at[client_id])
                received[client_id] = received.get(client_id, 0) + 1

    clients = []
    for chat_id, members in chats:
        channel = f"chat:{chat_id}"
        for pk in members:
            user = User(pk=pk)

            async def get_token(user=user) -> str:
                return connection_token_issue(user=user)["token"]

            async def get_sub_token(_channel: str, user=user, channel=channel) -> str:
                return subscription_token_issue(user=user, channel=channel)["token"]

            client = Client(ws_url, get_token=get_token, proxy=None, timeout=30)
            sub = client.new_subscription(channel, events=SubEvents(), get_token=get_sub_token)
            clients.append((client, sub))
    connect_started = time.perf_counter()
    for batch in range(0, len(clients), 100):
        group = clients[batch : batch + 100]
        await asyncio.gather(*(c.connect() for c, _ in group))
        await asyncio.gather(*(c.ready(timeout=60) for c, _ in group))
        await asyncio.gather(*(s.subscribe() for _, s in group))
        await asyncio.gather(*(s.ready(timeout=60) for _, s in group))
    connect_seconds = time.perf_counter() - connect_started
    load_before = os.getloadavg()[0]
    gate = asyncio.Semaphore(concurrency)
    status: dict[str, int] = {}
    expected = 0
    posts = int(rate * seconds)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Token {token}"}, timeout=30) as http:

        async def post(chat_id: int, fanout: int) -> None:
            nonlocal expected
            client_id = str(uuid.uuid4())
            async with gate:
                sent_at[client_id] = time.perf_counter()
                try:
                    r = await http.post(f"/api/chats/{chat_id}/messages/", json={"text": "x", "client_id": client_id})
                    key = str(r.status_code)
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                status[key] = status.get(key, 0) + 1
                if key == "201":
                    expected += fanout
                    fanout_of[client_id] = fanout
                else:
                    sent_at.pop(client_id, None)

        started = time.perf_counter()
        tasks = []
        for i in range(posts):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            chat_id, members = chats[i % len(chats)]
            tasks.append(asyncio.create_task(post(chat_id, len(members))))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    deadline = time.monotonic() + 60
    while sum(received.values()) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.sleep(1)
    for client, _ in clients:
        await client.disconnect()
    delivered = sum(min(count, fanout_of[client_id]) for client_id, count in received.items())
    duplicates = sum(max(0, count - fanout_of[client_id]) for client_id, count in received.items())
    return {
        "clients": len(clients),
        "chat_size": len(chats[0][1]),
        "target_rate_per_s": rate,
        "posts": posts,
        "post_status": status,
        "achieved_rate_per_s": round(status.get("201", 0) / elapsed, 1),
        "deliveries_expected": expected,
        "deliveries_received": sum(received.values()),
        "deliveries_lost": max(0, expected - delivered),
        "duplicates": duplicates,
        "latency_ms": summary(samples),
        "connect_seconds": round(connect_seconds, 1),
        "load_average_1m": round(load_before, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench cluster", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", choices=["single", "cluster", "both"], default="both")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--chat-size", type=int, default=10)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=64, help="POSTs in flight at most")
    parser.add_argument("--serve", action="store_true", help="start the profile, print its URL, wait for Ctrl-C")
    parser.add_argument("--idle", type=int, default=0, help="hold this many idle WebSockets instead (scenario 5)")
    args = parser.parse_args(argv)
    if args.idle:
        from django.conf import settings

        # The profile's nginx workers and Centrifugo processes are sized for them.
        settings.EDGE_MAX_WEBSOCKETS = max(settings.EDGE_MAX_WEBSOCKETS, args.idle)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))

    connection.settings_dict["TEST"]["NAME"] = "bench_cluster"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    results = []
    try:
        token, chats = population(args.clients, args.chat_size)
        for name in ["single", "cluster"] if args.profile == "both" else [args.profile]:
            workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-", dir="/tmp"))
            profile = SingleProfile(workdir) if name == "single" else ClusterProfile(workdir)
            try:
                wait_outbox_empty()
                if args.serve:
                    print(f"{name} profile at {profile.url}/ (database {connection.settings_dict['NAME']})", flush=True)
                    with contextlib.suppress(KeyboardInterrupt):
                        while True:
                            time.sleep(3600)
                    return
                if args.idle:
                    result = idle_scenario(profile, clients=args.idle, seconds=args.seconds) | {"profile": name}
                    if name == "cluster":
                        result["addresses"] = "network namespaces" if profile.isolated else "loopback"
                    print(f"{name:8s} idle {json.dumps(result)}", flush=True)
                    results.append(result)
                    continue
                result = asyncio.run(
                    scenario(
                        url=profile.url,
                        token=token,
                        chats=chats,
                        rate=args.rate,
                        seconds=args.seconds,
                        concurrency=args.concurrency,
                    )
                )
                result["profile"] = name
                if name == "cluster":
                    result["addresses"] = "network namespaces" if profile.isolated else "loopback"
                results.append(result)
                lat = result["latency_ms"]
                print(
                    f"{name:8s} N={result['clients']} rate={args.rate:.0f}/s (got {result['achieved_rate_per_s']}/s) "
                    f"deliveries {result['deliveries_received']}/{result['deliveries_expected']} "
                    f"POST->client p50={lat['p50']} p99={lat['p99']} max={lat['max']} ms "
                    f"status {result['post_status']} load {result['load_average_1m']}",
                    flush=True,
                )
            finally:
                profile.stop()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    if args.idle:
        IDLE_RESULTS.parent.mkdir(parents=True, exist_ok=True)
        what = "idle WebSockets held through nginx (personal channel each), RSS per connection"
        IDLE_RESULTS.write_text(json.dumps({"what": what, "results": results}, indent=2) + "\n")
        print(f"wrote {IDLE_RESULTS.relative_to(ROOT)}")
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    # One profile at a time keeps the other's last figures: the file holds both side by side.
    if RESULTS.exists() and args.profile != "both":
        kept = [r for r in json.loads(RESULTS.read_text()).get("results", []) if r.get("profile") != args.profile]
        results = kept + results
    RESULTS.write_text(
        json.dumps(
            {
                "what": "scenario 2: POST /api/chats/<id>/messages/ through nginx -> message.created on chat:<id>"
                " at every member's centrifuge-python client, single node beside the cluster profile",
                "machine": {"cpus": os.cpu_count()},
                "note": "clients, load and every node share this machine's 2 cores",
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
