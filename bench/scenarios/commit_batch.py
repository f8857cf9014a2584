"""What batching message commits would save (group commit: several POSTs' statements in one
transaction, their wake-ups in one NOTIFY), measured before building it.

Runs the message statement exactly as `chats.services.message_create` builds it, prepared,
on one connection to a database of its own, in batches of 1 (what a POST does today: the
statement in autocommit, then the wake-up statement), 2, 4 and 8 (BEGIN, the statements,
COMMIT and one wake-up, sent in one psycopg pipeline). Batch sizes alternate within each
round. Per message it reports the median wall time, the CPU of this process (psycopg's
side) and of the PostgreSQL backend.

    .venv/bin/python -m bench commit-batch [--messages 2000] [--rounds 3]

A server would only see such batches when several of a process's threads are in
`message_create` at once; what the batch sizes here save is the most it could save.
Writes bench/results/commit_batch.json. Needs the project's PostgreSQL (`make services`).
"""

import argparse
import os
import statistics
import time

import psycopg
from django.db import connections
from django.utils import timezone

from bench import procs
from bench.measure import database_kept, results_write

BATCHES = (1, 2, 4, 8)
WAKE_UP = "select pg_notify('bench_commit_batch', ''), pg_notify('bench_commit_batch', '0')"


def statement(chat_id: int, author_id: int) -> tuple[str, dict]:
    """The message statement and its parameters, as `message_create` builds them."""
    from chats.models import Message
    from chats.services import message_insert_statement

    return message_insert_statement(
        Message(chat_id=chat_id, author_id=author_id, text="a message of ordinary length", created_at=timezone.now())
    )


def one_round(conn: psycopg.Connection, batch: int, messages: int, chat_id: int, author_id: int) -> dict[str, float]:
    backend = [conn.info.backend_pid]
    started, python_cpu, postgres_cpu = time.perf_counter(), time.process_time(), procs.cpu_seconds(backend)
    cursor = conn.cursor()
    for _ in range(messages // batch):
        statements = [statement(chat_id, author_id) for _ in range(batch)]
        if batch == 1:
            cursor.execute(*statements[0], prepare=True)
            cursor.fetchone()
        else:
            with conn.pipeline():
                cursor.execute("begin")
                for sql, params in statements:
                    cursor.execute(sql, params, prepare=True)
                cursor.execute("commit")
        cursor.execute(WAKE_UP, prepare=True)
    time.sleep(0.05)  # the backend's last CPU ticks
    wall, python_cpu = time.perf_counter() - started, time.process_time() - python_cpu
    postgres_cpu = procs.cpu_seconds(backend) - postgres_cpu
    done = messages // batch * batch
    return {
        "wall_ms": 1000 * wall / done,
        "python_cpu_ms": 1000 * python_cpu / done,
        "postgres_cpu_ms": 1000 * postgres_cpu / done,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench commit-batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="per batch size and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    name = "bench_commit_batch"
    url = database_kept(name)
    connections["default"].settings_dict["NAME"] = name
    from accounts.models import User
    from bench.population import rooms_kept
    from chats.models import Chat, Message

    rooms_kept(prefix="cb", big_room=2)
    chat_id = Chat.objects.get(title="small").pk
    author_id = User.objects.get(username="cb-0").pk
    rounds: dict[int, list[dict]] = {batch: [] for batch in BATCHES}
    with psycopg.connect(url, autocommit=True) as conn:
        one_round(conn, 1, 100, chat_id, author_id)  # warm up: the statements prepared
        for number in range(args.rounds):
            for batch in BATCHES:
                rounds[batch].append(one_round(conn, batch, args.messages, chat_id, author_id))
            print(f"round {number + 1}/{args.rounds} done", flush=True)
    Message.objects.filter(chat_id=chat_id).delete()  # the chat's events stay: the log grows as in production

    summary = {
        batch: {key: statistics.median(r[key] for r in results) for key in results[0]}
        for batch, results in rounds.items()
    }
    print(
        f"\n{'batch':>5}{'wall ms':>10}{'python cpu':>12}{'pg cpu':>9}   (per message, medians of {args.rounds} rounds)"
    )
    for batch, row in summary.items():
        print(f"{batch:>5}{row['wall_ms']:>10.3f}{row['python_cpu_ms']:>12.3f}{row['postgres_cpu_ms']:>9.3f}")
    print(f"\nload average {os.getloadavg()[0]:.1f}")
    results_write(
        "commit_batch", {"messages": args.messages, "rounds": args.rounds, "load": os.getloadavg(), "batches": summary}
    )


if __name__ == "__main__":
    main()
