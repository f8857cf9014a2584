"""Posts chat messages through the chat service at a steady rate, in a process of its own so
that the clients' event loop does not slow it down.

    python -m bench.transports.publisher --rate 20 --duration 10 --chats 1:2,3:4,...

`--chats` lists chat:author pairs. It prints "ready", waits for a line on stdin, publishes,
and prints how many messages it sent (its warm-up messages not counted). Two threads share
the work above 5 messages/s: one message is a transaction of several statements, and the
log's lock serializes only its end.
"""

import argparse
import os
import sys
import threading
import time

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--chats", required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.settings.test")
    django.setup()
    from django.db import connection

    from accounts.models import User
    from chats.models import Chat
    from chats.services import message_create

    pairs = [tuple(map(int, pair.split(":"))) for pair in args.chats.split(",")]
    chats = {chat.pk: chat for chat in Chat.objects.filter(pk__in=[c for c, _ in pairs])}
    authors = {user.pk: user for user in User.objects.filter(pk__in=[a for _, a in pairs])}
    targets = [(chats[c], authors[a]) for c, a in pairs]
    connection.close()
    threads = 2 if args.rate > 5 else 1
    counts = [0] * threads
    # Each thread connects and sends one message before "ready" (created before the window,
    # so no client counts it): a thread's first message would otherwise carry its new
    # connection's setup and its backend's first plans in its latency. Those two messages
    # were the p99 of a 2,000-delivery window, for Nchan's relay as for the feed.
    connected, go = threading.Barrier(threads + 1), threading.Event()
    start = 0.0

    def publish(index: int) -> None:
        mine = targets[index::threads] or targets
        interval = threads / args.rate
        try:
            chat, author = mine[0]
            message_create(chat_id=chat.pk, author=author, text="bench warm-up")
            connected.wait()
            go.wait()
            next_at = start + index / args.rate
            # Behind schedule, it catches up, but stops half a duration late at most.
            while next_at < start + args.duration and time.monotonic() < start + 1.5 * args.duration:
                time.sleep(max(0.0, next_at - time.monotonic()))
                chat, author = mine[counts[index] % len(mine)]
                message_create(chat_id=chat.pk, author=author, text=f"bench message {counts[index]}")
                counts[index] += 1
                next_at += interval
        finally:
            connection.close()

    # Daemons: should a thread's warm-up fail, the barrier's timeout ends the process.
    workers = [threading.Thread(target=publish, args=(index,), daemon=True) for index in range(threads)]
    for worker in workers:
        worker.start()
    connected.wait(timeout=60)
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.monotonic()
    go.set()
    for worker in workers:
        worker.join()
    print(sum(counts), flush=True)


if __name__ == "__main__":
    main()
