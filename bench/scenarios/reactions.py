"""A reaction toggle's request cost in a chat of 2 and in a chat of 10,000, side by side.

Runs Django in-process (its test client: no server, no network) against a database of its
own, `bench_reactions`, made once and kept. Rounds alternate between the two chats so the
machine's noise falls on both; it reports per toggle the median time over every round and
the SQL statements. Bounded: `--toggles` per chat per round, `--rounds` rounds.

    .venv/bin/python -m bench reactions [--toggles 200] [--rounds 3]

Writes bench/results/reactions.json. Needs the project's PostgreSQL (`make services`).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from bench.measure import ROOT, database_kept, results_write

BIG_ROOM = 10_000
DB_NAME = "bench_reactions"


def worker(toggles: int, rounds: int) -> dict:
    """In the subprocess, under production settings: the rooms once, then the toggles."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from accounts.services import token_create
    from bench.population import rooms_kept
    from chats.models import Chat
    from chats.services import message_create

    rooms_kept(prefix="rx", big_room=BIG_ROOM)
    reactor = User.objects.get(username="rx-1")  # a plain member of both chats
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token_create(user=reactor)}")
    targets = {}
    for title in ("small", "big"):
        chat = Chat.objects.get(title=title)
        message, _ = message_create(chat_id=chat.pk, author=chat.created_by, text="react to me")
        targets[title] = f"/api/chats/{chat.pk}/messages/{message.pk}/reactions/"
    body = json.dumps({"emoji": "👍"})
    for url in targets.values():  # warm up: imports, caches, the connection
        for _ in range(20):
            response = client.post(url, body, content_type="application/json")
            assert response.status_code == 200, (response.status_code, response.content[:300])
    times: dict[str, list[float]] = {"small": [], "big": []}
    statements: dict[str, list[int]] = {"small": [], "big": []}
    for _ in range(rounds):
        for title, url in targets.items():
            connection.queries_log.clear()  # it keeps at most 9,000: counts would stop growing
            with CaptureQueriesContext(connection) as queries:
                for _ in range(toggles):
                    start = time.perf_counter()
                    response = client.post(url, body, content_type="application/json")
                    times[title].append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200, response.content
            statements[title].append(len(queries) / toggles)
    return {
        title: {
            "median_ms": statistics.median(times[title]),
            "p90_ms": statistics.quantiles(times[title], n=10)[-1],
            "statements": statistics.median(statements[title]),
            "toggles": len(times[title]),
        }
        for title in times
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--toggles", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.toggles, args.rounds)))
        return
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "messenger.settings.production",
        "DATABASE_URL": database_kept(DB_NAME),
        "DB_CONN_MAX_AGE": "600",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SECURE_COOKIES": "false",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "THROTTLE_RATE_REACTION": "1000000/min",  # the request's cost, not the throttle's refusals
    }
    command = [sys.executable, "-m", "bench", "reactions", "--worker", "--toggles", str(args.toggles)]
    command += ["--rounds", str(args.rounds)]
    output = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=900)
    if output.returncode != 0:
        raise SystemExit(output.stderr[-3000:])
    result = json.loads(output.stdout.strip().splitlines()[-1])
    report = {"toggles": args.toggles, "rounds": args.rounds, "load": os.getloadavg(), **result}
    print(f"{'chat':>8}{'median ms':>11}{'p90 ms':>9}{'statements':>12}")
    for title, size in (("small", "2"), ("big", f"{BIG_ROOM:,}")):
        row = result[title]
        print(f"{size:>8}{row['median_ms']:>11.2f}{row['p90_ms']:>9.2f}{row['statements']:>12.1f}")
    print(f"\nload average {report['load'][0]:.1f}")
    results_write("reactions", report)
