"""REST API throughput under uvicorn, with a connection per request against a connection pool.

    .venv/bin/python bench/api_throughput.py                 # 4 rounds x 2 settings, 300 POSTs each
    .venv/bin/python bench/api_throughput.py --posts 100 --concurrency 4 --rounds 2

It creates a database of its own (bench_api, dropped at the end), a chat of 10 members and
one uvicorn per round, alternately with DB_POOL_MAX_SIZE=0 (Django's default: a new
PostgreSQL connection per request) and DB_POOL_MAX_SIZE=8 (the Procfile's web process).
Each round, --concurrency threads post --posts messages in all through
POST /api/chats/<id>/messages/ (every POST also writes its event and outbox row) and then
read as many pages with GET .../messages/. Prints requests/s and the latency p50/p99 of each
setting (medians over the rounds, which alternate, so drift of a shared machine hits both
alike) and writes bench/results/api_throughput.json.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.settings.test")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.db import connection  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import token_create  # noqa: E402
from bench.stats import percentile  # noqa: E402
from chats.services import chat_create  # noqa: E402
from realtime.feed_testing import UvicornServer  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "api_throughput.json"
DATABASE = "bench_api"
SETTINGS = {"per-request connection": "0", "pool of 8": "8"}


def population() -> tuple[int, list[str]]:
    users = [User.objects.create_user(f"bench{i}", f"bench{i}@example.com", "x") for i in range(10)]
    chat = chat_create(created_by=users[0], title="bench", member_ids=[u.pk for u in users[1:]])
    return chat.pk, [token_create(user=u) for u in users]


def round_(url: str, chat_id: int, tokens: list[str], posts: int, concurrency: int) -> dict:
    def call(i: int, method: str) -> float:
        headers = {"Authorization": f"Token {tokens[i % len(tokens)]}"}
        started = time.perf_counter()
        if method == "post":
            response = httpx.post(f"{url}/api/chats/{chat_id}/messages/", json={"text": f"m{i}"}, headers=headers)
        else:
            response = httpx.get(f"{url}/api/chats/{chat_id}/messages/?limit=50", headers=headers)
        response.raise_for_status()
        return time.perf_counter() - started

    figures = {}
    for method in ("post", "get"):
        with ThreadPoolExecutor(concurrency) as pool:
            started = time.perf_counter()
            latencies = list(pool.map(lambda i, m=method: call(i, m), range(posts)))
            elapsed = time.perf_counter() - started
        figures[method] = {
            "requests_per_s": posts / elapsed,
            "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    connection.settings_dict["TEST"]["NAME"] = DATABASE
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        chat_id, tokens = population()
        rounds: dict[str, list[dict]] = {name: [] for name in SETTINGS}
        for number in range(args.rounds):
            for name, pool_size in SETTINGS.items():
                server = UvicornServer().start(DB_POOL_MAX_SIZE=pool_size)
                try:
                    figures = round_(server.url, chat_id, tokens, args.posts, args.concurrency)
                finally:
                    server.stop()
                rounds[name].append(figures)
                print(
                    f"round {number + 1}/{args.rounds} {name:>24}: "
                    + "  ".join(
                        f"{m.upper()} {f['requests_per_s']:.0f}/s p50 {f['p50_ms']:.0f} ms" for m, f in figures.items()
                    ),
                    flush=True,
                )
    finally:
        connection.creation.destroy_test_db(DATABASE, verbosity=0)

    summary = {
        name: {
            method: {key: statistics.median(r[method][key] for r in results) for key in results[0][method]}
            for method in ("post", "get")
        }
        for name, results in rounds.items()
    }
    print(f"\nmedians over {args.rounds} alternating rounds, {args.concurrency} concurrent clients:")
    print(f"{'setting':>24} | POST/s | POST p50 | POST p99 | GET/s | GET p50 | GET p99")
    for name, s in summary.items():
        print(
            f"{name:>24} | {s['post']['requests_per_s']:6.0f} | {s['post']['p50_ms']:6.0f} ms | "
            f"{s['post']['p99_ms']:6.0f} ms | {s['get']['requests_per_s']:5.0f} | {s['get']['p50_ms']:5.0f} ms | "
            f"{s['get']['p99_ms']:5.0f} ms"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "load_average": os.getloadavg(),
                    "python": platform.python_version(),
                },
                "args": vars(args),
                "rounds": rounds,
                "medians": summary,
            },
            indent=2,
        )
    )
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
