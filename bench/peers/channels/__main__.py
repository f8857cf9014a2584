"""Runs the Channels peer in the foreground, from the repository's root:

    .venv/bin/python -m bench.peers.channels --port 8900 [--workers 2]

uvicorn with uvloop and httptools, `--workers` processes sharing the port (default: one per
core); the chat groups live in Redis, so every process reaches every socket.

Each run has a Redis key prefix of its own, deleted when the server stops: the benchmarks'
databases number their chats from 1 again, and a group left by an earlier run (a server
killed before its sockets left) would make every group_send write to dead sockets' inboxes.
"""

import argparse
import os
import secrets
from pathlib import Path

import redis
import uvicorn

ROOT = Path(__file__).resolve().parents[3]
APP = "bench.peers.channels.asgi:application"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.channels")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: one per core)")
    args = parser.parse_args()
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.peers.channels.settings"
    # Read by settings.py in every worker process (they inherit the environment).
    prefix = os.environ["CHANNELS_PEER_PREFIX"] = f"bench-peer-channels-{secrets.token_hex(4)}"
    try:
        _serve(args)
    finally:
        _forget(prefix)


def _serve(args: argparse.Namespace) -> None:
    uvicorn.run(
        APP,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        app_dir=str(ROOT),
        access_log=False,
        log_level="warning",
    )


def _forget(prefix: str) -> None:
    """Deletes this run's groups and inboxes from Redis."""
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


if __name__ == "__main__":
    main()
