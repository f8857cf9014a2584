"""Runs the Channels peer in the foreground:

.venv/bin/python -m bench.peers.channels --port 8900 [--workers 2] [--server uvicorn|daphne]
"""

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
APP = "bench.peers.channels.asgi:application"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.channels")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: one per core)")
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    args = parser.parse_args()
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.peers.channels.settings"
    sys.path.insert(0, str(ROOT))
    if args.server == "daphne":
        if args.workers != 1:
            parser.error("daphne runs one process")
        from daphne.cli import CommandLineInterface

        CommandLineInterface().run(["-b", args.host, "-p", str(args.port), "-v", "0", APP])
        return

    import uvicorn

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
