"""Runs the Channels peer in the foreground, from the repository's root:

    .venv/bin/python -m bench.peers.channels --port 8900 [--workers 2]

uvicorn with uvloop and httptools, `--workers` processes sharing the port (default: one per
core); the chat groups live in Redis, so every process reaches every socket.
"""

import argparse
import os
from pathlib import Path

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


if __name__ == "__main__":
    main()
