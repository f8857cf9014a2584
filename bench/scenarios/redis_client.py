"""The Redis commands every API request makes (the token cache's generation GET and the
throttle's EVALSHA), timed in this process with redis-py's Python reply parser beside
hiredis's, in alternating rounds: the client's CPU per request is what the parser decides.

    .venv/bin/python -m bench redis-client [--requests 20000] [--rounds 5]

Writes bench/results/redis_client.json. Needs the project's Redis (`make services`).
"""

import argparse
import statistics
import time

import redis
from django.conf import settings
from redis._parsers import _HiredisParser, _RESP2Parser

from bench.measure import results_write
from core.throttling import window_charge

PARSERS = {"python": _RESP2Parser, "hiredis": _HiredisParser}


def one_round(client: redis.Redis, requests: int) -> float:
    """CPU microseconds per request: one generation GET and one throttle charge."""
    started = time.process_time()
    for _ in range(requests):
        client.get("bench:redis-client:generation")
        window_charge(client, "bench:redis-client:window", cost=1, limit=10**9, window=60)
    return (time.process_time() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench redis-client", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    clients = {name: redis.Redis.from_url(settings.REDIS_URL, parser_class=cls) for name, cls in PARSERS.items()}
    for client in clients.values():
        one_round(client, 200)  # connect, load the script
    rounds: dict[str, list[float]] = {name: [] for name in clients}
    for number in range(args.rounds):
        for name, client in clients.items():
            rounds[name].append(one_round(client, args.requests))
        print(f"round {number + 1}/{args.rounds}: " + ", ".join(f"{n} {r[-1]:.1f} µs" for n, r in rounds.items()))
    medians = {name: statistics.median(values) for name, values in rounds.items()}
    figures = ", ".join(f"{name} {median:.1f} µs" for name, median in medians.items())
    print(f"client CPU per request (GET + EVALSHA), medians: {figures}")
    print(f"hiredis / python: {medians['hiredis'] / medians['python']:.2f}")
    results_write("redis_client", {"args": vars(args), "rounds": rounds, "medians_us": medians})
