"""One bounded latency run through a peer, with a small Python client:

    .venv/bin/python -m bench.peers.latency --peer channels|socketio [--clients 100]
        [--chat-size 10] [--rate 20] [--seconds 10] [--workers 1]

N WebSocket clients (one user each) in chats of --chat-size, one poster in every chat (not
connected); POSTs at a fixed rate, round robin over the chats, each with a client_id. One
sample per (client, message): POST sent -> frame received. CPU of the peer's processes from
/proc over the posting window and the drain. The bench's Go client measures the real
scenario (`python -m bench --scenarios 7`); this is a check that the peer holds up, not the
figure of record.
"""

import argparse
import asyncio
import json
import os
import resource
import time
import uuid
from typing import TYPE_CHECKING

import httpx

from bench.peers import django_setup
from bench.peers.clients import PEERS
from bench.peers.server import PeerServer
from bench.procs import cpu_seconds
from bench.stats import percentile

if TYPE_CHECKING:  # the models need django.setup(), done in main()
    from bench.peers.population import Population

DRAIN_SECONDS = 5  # after the last POST, how long a frame may still arrive
MAX_IN_FLIGHT = 200  # POSTs not yet answered: past this the run stops offering load


async def latency_run(
    server: PeerServer, client: type, population: "Population", *, rate: float, seconds: float
) -> dict:
    sent_at: dict[str, float] = {}
    receipts: dict[str, list[float]] = {}  # client_id -> one delay per receiving client
    duplicates = 0

    async def reader(socket, seen: set[str]) -> None:
        nonlocal duplicates
        while True:
            frame = await socket.recv()
            now = time.perf_counter()
            client_id = frame["data"]["client_id"]
            if client_id not in sent_at:  # a warm-up message
                continue
            if client_id in seen:
                duplicates += 1
                continue
            seen.add(client_id)
            receipts.setdefault(client_id, []).append(now - sent_at[client_id])

    sockets = []
    for start in range(0, len(population.reader_tokens), 50):  # in batches: the peer's thread does auth
        batch = population.reader_tokens[start : start + 50]
        sockets += await asyncio.gather(*(client.open(server, token) for token in batch))
    readers = [asyncio.create_task(reader(socket, set())) for socket in sockets]

    post_ms: list[float] = []
    statuses: dict[int | str, int] = {}
    expected = 0
    in_flight = 0
    pids = server.pids()
    headers = {"Authorization": f"Token {population.poster_token}"}
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT)
    async with httpx.AsyncClient(base_url=server.url, headers=headers, limits=limits, timeout=10) as http:

        async def post(chat_id: int, members: int) -> None:
            nonlocal expected, in_flight
            client_id = uuid.uuid4().hex
            in_flight += 1
            sent_at[client_id] = started = time.perf_counter()
            try:
                response = await http.post(
                    f"/api/chats/{chat_id}/messages/", json={"text": "hi", "client_id": client_id}
                )
                status = response.status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            in_flight -= 1
            post_ms.append((time.perf_counter() - started) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
            if status == 201:
                expected += members

        # Warm-up, not measured: every chat twice at once, so the pool has opened its connections.
        warm_up = [population.chats[n % len(population.chats)][0] for n in range(2 * len(population.chats))]
        await asyncio.gather(
            *(http.post(f"/api/chats/{chat_id}/messages/", json={"text": "warm-up"}) for chat_id in warm_up)
        )
        await asyncio.sleep(1)

        cpu_before, began = cpu_seconds(pids), time.perf_counter()
        own_before = resource.getrusage(resource.RUSAGE_SELF)
        posts = []
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, began + n / rate - time.perf_counter()))
            if in_flight >= MAX_IN_FLIGHT:
                break
            chat_id, members = population.chats[n % len(population.chats)]
            posts.append(asyncio.create_task(post(chat_id, len(members))))
        await asyncio.gather(*posts)
        deadline = time.perf_counter() + DRAIN_SECONDS
        while sum(map(len, receipts.values())) < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        wall = time.perf_counter() - began
        cpu = cpu_seconds(pids) - cpu_before
        own_after = resource.getrusage(resource.RUSAGE_SELF)
    for task in readers:
        task.cancel()
    for socket in sockets:
        await socket.close()

    delays = [d * 1000 for values in receipts.values() for d in values]
    delivered = len(delays)
    return {
        "clients": len(sockets),
        "chats": len(population.chats),
        "rate": rate,
        "seconds": seconds,
        "posts": len(posts),
        "statuses": statuses,
        "post_p50_ms": round(percentile(post_ms, 50), 1),
        "post_p99_ms": round(percentile(post_ms, 99), 1),
        "receipt_p50_ms": round(percentile(delays, 50), 1) if delays else None,
        "receipt_p99_ms": round(percentile(delays, 99), 1) if delays else None,
        "receipt_max_ms": round(max(delays), 1) if delays else None,
        "expected": expected,
        "delivered": delivered,
        "lost": expected - delivered,
        "duplicated": duplicates,
        "server_processes": len(pids),
        "server_cpu_s": round(cpu, 2),
        "server_cpu_percent": round(100 * cpu / wall, 1),
        "server_cpu_ms_per_delivery": round(1000 * cpu / delivered, 3) if delivered else None,
        "client_cpu_s": round(own_after.ru_utime + own_after.ru_stime - own_before.ru_utime - own_before.ru_stime, 2),
        "window_s": round(wall, 2),
        "load_average_1m": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.latency")
    parser.add_argument("--peer", choices=sorted(PEERS), default="channels")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--chat-size", type=int, default=10)
    parser.add_argument("--rate", type=float, default=20, help="POSTs per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    django_setup()
    from bench.peers.population import peer_running

    running = peer_running(
        args.peer, purpose="latency", workers=args.workers, readers=args.clients, chat_size=args.chat_size
    )
    with running as (server, client, population):
        result = asyncio.run(latency_run(server, client, population, rate=args.rate, seconds=args.seconds))
    result["peer"], result["workers"] = args.peer, args.workers
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
