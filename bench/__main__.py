"""The one way to run a benchmark: `python -m bench [NAME] [its options]` from the repository's root.

    python -m bench [--scenarios 1,2 --quick ...]   # make bench: the seven scenarios (bench/suite.py)
    python -m bench soak [--seconds 600]             # make soak
    python -m bench NAME --help                      # each one's options

Every benchmark stops by itself and writes its figures as JSON into bench/results/ (charts,
where there are any, are rendered beside them and not committed).
"""

import os
import runpy
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent

# name: (module, the Django settings it is imported under (None: it sets up its own), what it measures)
COMMANDS: dict[str, tuple[str, str | None, str]] = {
    "suite": (
        "bench.suite",
        None,
        "make bench: issue 9's seven scenarios, bench/results/bench.json, docs/performance.md",
    ),
    "soak": (
        "bench.scenarios.soak",
        "messenger.settings.test",
        "make soak: 10 minutes of mixed load, RSS and log errors",
    ),
    "email-latency": (
        "bench.scenarios.email_latency",
        "messenger.settings.local",
        "member added → email at the SMTP server",
    ),
    "attachment-latency": (
        "bench.scenarios.attachment_latency",
        "messenger.settings.local",
        "a 10 MB image's upload → its thumbnail event at the other member",
    ),
    "reactions": (
        "bench.scenarios.reactions",
        "messenger.settings.local",
        "a reaction toggle's cost in a chat of 2 and of 10,000 (production settings, in-process)",
    ),
    "cluster": (
        "bench.scenarios.cluster",
        "messenger.settings.local",
        "scenario 2 on the single node beside the cluster",
    ),
    "transports": ("bench.transports.__main__", None, "polling, long polling, SSE, WebSocket and nginx + Nchan"),
    "peer-smoke": ("bench.peers.smoke", None, "a peer (Channels, socketio) started, checked, stopped"),
    "peer-latency": ("bench.peers.latency", None, "a peer's POST → receipt with a small Python client"),
    "report": ("bench.report", None, "docs/performance.md rendered again from bench/results/bench.json"),
    "side-by-side": (
        "bench.side_by_side",
        None,
        "make bench's scenarios on a worktree of --base and this tree, alternating (medians of each)",
    ),
    "write-path": (
        "bench.scenarios.write_path",
        "messenger.settings.local",
        "the message POST's own cost in-process, this tree beside another commit's",
    ),
    "api-throughput": (
        "bench.scenarios.api_throughput",
        "messenger.settings.test",
        "GET /healthz and message POSTs per second (wrk), CPU per request, --profile (py-spy, pg_stat_statements)",
    ),
    "redis-client": (
        "bench.scenarios.redis_client",
        "messenger.settings.local",
        "the Redis commands of every API request: redis-py's Python parser beside hiredis",
    ),
    "commit-batch": (
        "bench.scenarios.commit_batch",
        "messenger.settings.local",
        "the message statement committed alone beside batches of 2, 4 and 8 (group commit's ceiling)",
    ),
    "host-speed": (
        "bench.host_speed",
        None,
        "this host's speed now: the CPU ms of a fixed piece of Python (lower is faster)",
    ),
    # Scripts of their own (they set up Django themselves), run as they are.
    "connect-burst": (
        "connect_burst.py",
        None,
        "1,000 clients of each transport connecting at once (tokens included): refusals, time",
    ),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {summary}" for name, (_, _, summary) in COMMANDS.items())
    return f"{__doc__}\nBenchmarks:\n{rows}\n"


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] in ("-h", "--help", "help") and len(args) == 1:
        print(usage())
        return
    name = args.pop(0) if args and not args[0].startswith("-") else "suite"
    if name not in COMMANDS:
        sys.exit(f"python -m bench: no benchmark {name!r}\n\n{usage()}")
    module, settings, _ = COMMANDS[name]
    sys.argv = [f"python -m bench {name}" if name != "suite" else "python -m bench", *args]
    if module.endswith(".py"):
        runpy.run_path(str(BENCH / module), run_name="__main__")
        return
    if settings is not None:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings)
        import django

        django.setup()
    import importlib

    importlib.import_module(module).main()


main()
