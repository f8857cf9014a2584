"""The message POST's own cost, before and after a change, side by side in one run.

Runs Django in-process (its WSGI test client, no server, no network) against a database of
its own, for two source trees: this one and an earlier commit checked out into a temporary
worktree. Rounds alternate between the trees so that the machine's noise falls on both.
For chats of 2 and of 10,000 members it reports per POST: the median time, the CPU time of
the Python (this process: the test client's small share included) and of the PostgreSQL
backend serving it, the SQL statements, the bytes the event log and the outbox grew by, and
the write-ahead log written per POST.

    .venv/bin/python -m bench write-path [--base main] [--posts 300] [--rounds 3]

Each tree's worker is this file, run in that tree (its apps, its `bench.procs` and
`bench.population`) on a database of its own, `bench_write_path_<before|after>`, made once
and kept. Writes bench/results/write_path.json. Needs the project's PostgreSQL (`make services`).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIG_ROOM = 10_000
# The worker runs this file as __main__ in the other tree; not as a script, whose folder
# (bench/scenarios/, with a reactions.py) would come first on sys.path and hide apps.
RUN_FILE = "import runpy, sys; runpy.run_path(sys.argv.pop(1), run_name='__main__')"


def worker(db: str, posts: int) -> dict:
    """Inside one tree: set the database up once (cached by name), then time the POSTs."""
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from accounts.services import token_create
    from bench import procs
    from bench.population import rooms_kept
    from chats.models import Chat

    rooms_kept(prefix="wp", big_room=BIG_ROOM)
    author = User.objects.get(username="wp-0")
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token_create(user=author)}")
    result = {}
    for title in ("small", "big"):
        chat = Chat.objects.get(title=title)
        url = f"/api/chats/{chat.pk}/messages/"
        body = json.dumps({"text": "a message of ordinary length, about as long as people write"})
        for _ in range(20):  # warm up: imports, caches, the connection
            client.post(url, body, content_type="application/json")
        sizes_before, wal_before = _table_bytes(connection), _wal_position(connection)
        backend = [connection.connection.info.backend_pid]
        times = []
        python_cpu, postgres_cpu = time.process_time(), procs.cpu_seconds(backend)
        with CaptureQueriesContext(connection) as queries:
            for _ in range(posts):
                start = time.perf_counter()
                response = client.post(url, body, content_type="application/json")
                times.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 201, response.content
        python_cpu, postgres_cpu = time.process_time() - python_cpu, procs.cpu_seconds(backend) - postgres_cpu
        sizes_after, wal_after = _table_bytes(connection), _wal_position(connection)
        result[title] = {
            "median_ms": statistics.median(times),
            "python_cpu_ms": 1000 * python_cpu / posts,
            "postgres_cpu_ms": 1000 * postgres_cpu / posts,
            "statements": len(queries) / posts,
            "event_bytes": (sizes_after["event"] - sizes_before["event"]) / posts,
            "outbox_bytes": (sizes_after["outbox"] - sizes_before["outbox"]) / posts,
            "wal_bytes": (wal_after - wal_before) / posts,
        }
    return result


def _table_bytes(connection) -> dict[str, int]:
    """Bytes of the event log's and outbox's rows; the outbox as written, before a consumer
    deletes it (none runs here)."""
    with connection.cursor() as cursor:
        cursor.execute("select coalesce(sum(pg_column_size(e.*)), 0) from realtime_event e")
        event = cursor.fetchone()[0]
        cursor.execute("select coalesce(sum(pg_column_size(o.*)), 0) from centrifugo_outbox o")
        outbox = cursor.fetchone()[0]
    return {"event": int(event), "outbox": int(outbox)}


def _wal_position(connection) -> int:
    """Where PostgreSQL's write-ahead log ends, in bytes: the whole cluster's, so the figure
    is this run's only on an otherwise idle server."""
    with connection.cursor() as cursor:
        cursor.execute("select pg_current_wal_insert_lsn() - '0/0'::pg_lsn")
        return int(cursor.fetchone()[0])


def run_tree(tree: Path, label: str, posts: int) -> dict:
    from bench.measure import database_kept

    name = f"bench_write_path_{label}"
    url = database_kept(name)
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "messenger.settings.production",
        "DATABASE_URL": url,
        "DB_CONN_MAX_AGE": "600",
        "PYTHONPATH": str(tree),
        "DJANGO_SECURE_COOKIES": "false",
        # Plain HTTP in-process (production redirects to HTTPS), and one author posting
        # hundreds of messages a minute (production allows 120).
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "THROTTLE_RATE_MESSAGE_POST": "100000/min",
    }
    output = subprocess.run(
        [sys.executable, "-c", RUN_FILE, __file__, "--worker", "--db", name, "--posts", str(posts)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if output.returncode != 0:
        raise RuntimeError(f"{label}: {output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="main", help="the commit to compare with")
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.db, args.posts)))
        return

    from bench.measure import worktree  # not at the top: the worker runs this file in the other tree

    rounds: dict[str, list[dict]] = {"before": [], "after": []}
    with worktree(args.base) as base:
        for n in range(args.rounds):
            for label, tree in (("before", base), ("after", ROOT)):
                print(f"round {n + 1}/{args.rounds}: {label} ({args.posts} POSTs per chat)...", flush=True)
                rounds[label].append(run_tree(tree, label, args.posts))

    summary = {}
    for label, results in rounds.items():
        summary[label] = {
            chat: {key: statistics.median(r[chat][key] for r in results) for key in results[0][chat]}
            for chat in ("small", "big")
        }
    report = {"base": args.base, "posts": args.posts, "rounds": args.rounds, "load": os.getloadavg(), **summary}
    header = f"{'chat':>7}{'median ms':>11}{'python cpu':>12}{'pg cpu':>8}{'statements':>12}{'event B':>10}"
    print(f"\n{'':8}{header}{'outbox B':>10}{'WAL B':>8}")
    for label in ("before", "after"):
        for chat, size in (("small", "2"), ("big", f"{BIG_ROOM:,}")):
            row = summary[label][chat]
            print(
                f"{label:8}{size:>7}{row['median_ms']:>11.2f}{row.get('python_cpu_ms', 0):>12.2f}"
                f"{row.get('postgres_cpu_ms', 0):>8.2f}{row['statements']:>12.1f}"
                f"{row['event_bytes']:>10.0f}{row['outbox_bytes']:>10.0f}{row['wal_bytes']:>8.0f}"
            )
    print(f"\nload average {report['load'][0]:.1f}")
    from bench.measure import results_write

    results_write("write_path", report)


if __name__ == "__main__":
    main()
