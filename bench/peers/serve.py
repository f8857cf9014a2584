"""`python -m bench.peers.<peer>`: a peer's ASGI application under uvicorn in the foreground.

uvicorn with uvloop and httptools and its sans-I/O WebSocket protocol, `--workers` processes
sharing the port (default: one per core); each peer shares its rooms through Redis, so every
process reaches every socket. Each run names its Redis keys or channel with a prefix of its
own (in `prefix_env`, read by the peer's settings in every worker): the benchmarks' databases
number their chats from 1 again, and what an earlier run left must not meet this one.
"""

import argparse
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import uvicorn

ROOT = Path(__file__).resolve().parents[2]


def peer_main(
    *, name: str, app: str, settings_module: str, prefix_env: str, forget: Callable[[str], None] | None = None
) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m bench.peers.{name}")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: one per core)")
    args = parser.parse_args()
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    prefix = os.environ[prefix_env] = f"bench-peer-{name}-{secrets.token_hex(4)}"
    try:
        uvicorn.run(
            app,
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
    finally:
        if forget is not None:
            forget(prefix)
