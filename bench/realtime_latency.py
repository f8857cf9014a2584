"""Latency from a REST POST to each member's centrifuge-python client, through the whole path:
uvicorn + DRF -> message_create -> event_emit (outbox row, NOTIFY) -> Centrifugo's
PostgreSQL outbox consumer -> broadcast to personal channels -> WebSocket -> client.

    .venv/bin/python bench/realtime_latency.py                 # N = 100, 1000 x 10, 50, 200 msg/s
    .venv/bin/python bench/realtime_latency.py --clients 100 --rates 50 --seconds 5

It creates a database of its own (bench_messenger, dropped at the end), starts Centrifugo
(memory engine) and uvicorn on free loopback ports, signs N users in, puts them in chats of
--chat-size members (one poster in every chat), connects all N clients from this one asyncio
process, then posts at a fixed rate for a bounded time. Each POST carries a client_id; a
client's receipt of the message.created event with that client_id is one sample, measured
from the moment the POST was sent. Prints p50/p99/max per scenario and writes
bench/results/realtime_latency.json.
"""

import argparse
import asyncio
import json
import logging
import os
import platform
import resource
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.settings.local")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from centrifuge import Client, ClientEventHandler, SubscriptionEventHandler  # noqa: E402
from django.db import connection  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import token_create  # noqa: E402
from bench.stats import percentile  # noqa: E402
from chats.services import chat_create  # noqa: E402
from realtime.feed_testing import UvicornServer  # noqa: E402
from realtime.models import CentrifugoOutbox  # noqa: E402
from realtime.services import personal_channel  # noqa: E402
from realtime.testing import CentrifugoServer  # noqa: E402
from realtime.tokens import connection_token_issue  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "realtime_latency.json"


def make_population(n_clients: int, chat_size: int) -> tuple[str, list[int], list[tuple[int, list[int]]]]:
    """N reader users in chats of `chat_size` readers each, plus one poster in every chat."""
    tag = uuid.uuid4().hex[:6]
    poster = User.objects.create_user(username=f"bench-poster-{tag}", email=f"poster-{tag}@example.com")
    readers = User.objects.bulk_create(
        [User(username=f"bench-{tag}-{i}", email=f"bench-{tag}-{i}@example.com") for i in range(n_clients)]
    )
    chats = []
    for start in range(0, n_clients, chat_size):
        members = [user.pk for user in readers[start : start + chat_size]]
        chat = chat_create(created_by=poster, title=f"bench {start}", member_ids=members)
        chats.append((chat.pk, members))
    token = token_create(user=poster)
    return token, [user.pk for user in readers], chats


def wait_outbox_empty(timeout: float = 60) -> None:
    """Waits until Centrifugo has dispatched every queued event (setup's, a scenario's)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not CentrifugoOutbox.objects.exists():
            return
        time.sleep(0.2)
    raise RuntimeError("the outbox did not drain")


async def run_scenario(*, api_url: str, ws_url: str, token: str, reader_ids, chats, rate: float, seconds: float):
    sent_at: dict[str, float] = {}
    samples: list[float] = []  # POST sent -> client receipt
    path_samples: list[float] = []  # event row written (in the POST's transaction) -> client receipt
    api_samples: list[float] = []  # POST round trip
    expected_per_post: dict[str, int] = {}

    class SubEvents(SubscriptionEventHandler):
        async def on_publication(self, ctx) -> None:
            now, wall = time.perf_counter(), time.time()
            data = ctx.pub.data
            if data.get("type") == "message.created":
                client_id = data["data"].get("client_id")
                if client_id in sent_at:
                    samples.append(now - sent_at[client_id])
                    path_samples.append(wall - datetime.fromisoformat(data["ts"]).timestamp())

    connected = 0

    class Events(ClientEventHandler):
        async def on_connected(self, ctx) -> None:
            nonlocal connected
            connected += 1

    clients: list[Client] = []
    subs = []
    users = {pk: User(pk=pk) for pk in reader_ids}
    for pk in reader_ids:
        user = users[pk]

        async def get_token(user=user) -> str:
            return connection_token_issue(user=user)["token"]

        client = Client(ws_url, events=Events(), get_token=get_token, proxy=None, timeout=30)
        subs.append(client.new_subscription(personal_channel(pk), events=SubEvents()))
        clients.append(client)

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    for batch in range(0, len(clients), 100):
        group, group_subs = clients[batch : batch + 100], subs[batch : batch + 100]
        await asyncio.gather(*(client.connect() for client in group))
        await asyncio.gather(*(client.ready(timeout=60) for client in group))
        await asyncio.gather(*(sub.subscribe() for sub in group_subs))
        await asyncio.gather(*(sub.ready(timeout=60) for sub in group_subs))
    connect_seconds = time.perf_counter() - started

    posts_ok = posts_failed = 0
    failures: dict[str, int] = {}
    async with httpx.AsyncClient(
        base_url=api_url,
        headers={"Authorization": f"Token {token}"},
        timeout=30,
        limits=httpx.Limits(max_connections=64),
    ) as http:

        async def post(chat_id: int, members: int) -> None:
            nonlocal posts_ok, posts_failed
            client_id = uuid.uuid4().hex
            expected_per_post[client_id] = members
            sent_at[client_id] = time.perf_counter()
            try:
                body = {"text": "x", "client_id": client_id}
                response = await http.post(f"/api/chats/{chat_id}/messages/", json=body)
                api_samples.append(time.perf_counter() - sent_at[client_id])
                if response.status_code == 201:
                    posts_ok += 1
                else:
                    posts_failed += 1
                    failures[str(response.status_code)] = failures.get(str(response.status_code), 0) + 1
                    del expected_per_post[client_id]
            except httpx.HTTPError as exc:
                posts_failed += 1
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                del expected_per_post[client_id]

        tasks = []
        total = int(rate * seconds)
        begin = time.perf_counter()
        for i in range(total):
            # Open loop: each POST leaves at its scheduled time, however slow the others are.
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            chat_id, members = chats[i % len(chats)]
            tasks.append(asyncio.create_task(post(chat_id, len(members))))
        await asyncio.gather(*tasks)
        post_seconds = time.perf_counter() - begin

    expected = sum(expected_per_post.values())
    deadline = time.monotonic() + 30
    while len(samples) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.gather(*(client.disconnect() for client in clients), return_exceptions=True)

    def summary(values: list[float]) -> dict:
        ms = [v * 1000 for v in values]
        if not ms:
            return {"p50": None, "p99": None, "max": None}
        return {"p50": round(percentile(ms, 50), 1), "p99": round(percentile(ms, 99), 1), "max": round(max(ms), 1)}

    return {
        "clients": len(reader_ids),
        "target_rate_per_s": rate,
        "achieved_rate_per_s": round(posts_ok / post_seconds, 1),
        "seconds": seconds,
        "posts_ok": posts_ok,
        "posts_failed": posts_failed,
        "failures": failures,
        "deliveries_expected": expected,
        "deliveries_received": len(samples),
        "connect_seconds": round(connect_seconds, 2),
        # The machine is shared: the 1-minute load average before the scenario, for context.
        "load_average_1m": round(load_before, 2),
        "latency_ms": summary(samples),
        "event_to_client_ms": summary(path_samples),
        "post_round_trip_ms": summary(api_samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000])
    # 10/s is a reference below what the API sustains on a small machine; 50 and 200 are the brief.
    parser.add_argument("--rates", type=float, nargs="+", default=[10, 50, 200])
    parser.add_argument("--seconds", type=float, default=5, help="posting time per scenario")
    parser.add_argument("--chat-size", type=int, default=10, help="readers per chat (fan-out of each POST)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--engine", choices=["memory", "redis"], default="memory")
    args = parser.parse_args()

    logging.getLogger("httpx").setLevel(logging.WARNING)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))

    connection.settings_dict["TEST"]["NAME"] = "bench_messenger"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    server = api = None
    results = []
    try:
        server = CentrifugoServer(engine=args.engine, redis_prefix=f"bench-{uuid.uuid4().hex[:8]}", log_level="warn")
        server.start()
        api = UvicornServer(settings_module="messenger.settings.local", workers=args.workers).start()
        for n in args.clients:
            token, reader_ids, chats = make_population(n, args.chat_size)
            wait_outbox_empty()
            for rate in args.rates:
                result = asyncio.run(
                    run_scenario(
                        api_url=api.url,
                        ws_url=server.ws_url,
                        token=token,
                        reader_ids=reader_ids,
                        chats=chats,
                        rate=rate,
                        seconds=args.seconds,
                    )
                )
                result["chat_size"] = args.chat_size
                results.append(result)
                lat, path, rt = result["latency_ms"], result["event_to_client_ms"], result["post_round_trip_ms"]
                print(
                    f"N={n:5d} rate={rate:5.0f}/s (got {result['achieved_rate_per_s']:6.1f}/s) "
                    f"deliveries {result['deliveries_received']}/{result['deliveries_expected']}  "
                    f"POST->client p50={lat['p50']} p99={lat['p99']} max={lat['max']} ms | "
                    f"event->client p50={path['p50']} p99={path['p99']} max={path['max']} ms | "
                    f"POST round trip p50={rt['p50']} p99={rt['p99']} ms | load {result['load_average_1m']}",
                    flush=True,
                )
                wait_outbox_empty()
    finally:
        if api:
            api.stop()
        if server:
            server.stop()
        connection.creation.destroy_test_db(old_name, verbosity=0)

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "what": "POST /api/chats/<id>/messages/ -> message.created at each member's centrifuge-python client",
                "engine": args.engine,
                "uvicorn_workers": args.workers,
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "note": "all clients in one asyncio process on the same machine as the server; loopback only",
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
