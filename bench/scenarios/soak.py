"""Soak: the whole stack under a bounded mixed load for 10 minutes; the RSS of every process
at the start and the end (and each minute), the error lines of every log, and the delivery
counts per transport.

    .venv/bin/python -m bench soak [--seconds 600]      # make soak; writes bench/results/soak.json

The stack is the fault tests' (testing.faults.FaultStack): a PostgreSQL cluster and a
Redis of its own, nginx + granian + uvicorn, Centrifugo (Redis engine), a Celery worker,
celery beat and an SMTP server, all with the test settings (a fast password hasher). The
load: messages posted at 5/s, a member added every 2 s (an email each), one reader on each
transport (WebSocket, SSE, long polling, polling), and a client reading its chat list, a
page of messages and its profile twice a second. Everything through nginx, on loopback.
"""

import argparse
import json
import logging
import os
import re
import tempfile
import threading
import time
from pathlib import Path

import httpx

from testing.faults import FaultStack, LoadRun, process_tree, world_create

# One line per request would bury the figures.
logging.getLogger("httpx").setLevel(logging.WARNING)

RESULTS = Path(__file__).resolve().parents[1] / "results" / "soak.json"
ERROR_LINE = re.compile(
    r"\b(ERROR|CRITICAL|FATAL|PANIC|Traceback)\b|\[(error|crit|alert|emerg)\]|level=error|\"level\":\"error\""
)


WARNING_LINE = re.compile(r"\bWARNING\b|\[warn\]|level=warn")


def rss_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) if match else 0


def processes(stack: FaultStack) -> dict[str, list[int]]:
    """Every process of the stack, by program (a program's children included)."""
    postmaster = int((stack.postgres.data / "postmaster.pid").read_text().split()[0])
    roots = {
        "nginx": stack.site.nginx.process.pid,
        "web (granian)": stack.site.web.process.pid,
        "feed (uvicorn)": stack.site.feed.process.pid,
        "centrifugo": stack.centrifugo.process.pid,
        "worker (celery)": stack.worker.process.pid,
        "beat": stack.beat.process.pid,
        "postgresql": postmaster,
        "redis": stack.redis.process.pid,
        "load + receivers + smtp (this process)": os.getpid(),
    }
    return {
        name: process_tree(pid) if name != "load + receivers + smtp (this process)" else [pid]
        for name, pid in roots.items()
    }


def rss_sample(stack: FaultStack) -> dict[str, dict[str, int]]:
    sample = {}
    for name, pids in processes(stack).items():
        per_pid = {str(pid): rss_kib(pid) for pid in pids}
        sample[name] = {"processes": len(pids), "rss_kib": sum(per_pid.values()), "largest_kib": max(per_pid.values())}
    return sample


def logs(stack: FaultStack) -> dict[str, Path]:
    work = stack.workdir
    return {
        "nginx": work / "nginx" / "nginx-error.log",
        "web (granian)": work / "wsgi.log",
        "feed (uvicorn)": work / "uvicorn.log",
        "centrifugo": stack.centrifugo.log_path,
        "worker (celery)": work / "worker.log",
        "beat": work / "beat.log",
        "postgresql": stack.postgres.data / "server.log",
        "redis": stack.redis.dir / "redis.log",
    }


def error_lines(path: Path, *, keep: int = 20) -> dict[str, object]:
    if not path.exists():
        return {"lines": 0, "errors": 0, "first": []}
    text = path.read_text(errors="replace").splitlines()
    errors = [line for line in text if ERROR_LINE.search(line)]
    warnings = [line for line in text if WARNING_LINE.search(line)]
    return {
        "lines": len(text),
        "errors": len(errors),
        "first": [line[:300] for line in errors[:keep]],
        "warnings": len(warnings),
        "first_warnings": [line[:300] for line in warnings[:keep]],
    }


def browse(base_url: str, headers: dict[str, str], chat_id: int, stop: threading.Event, counts: dict) -> None:
    """A client reading what a page reads, twice a second."""
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as http:
        while not stop.is_set():
            for path in ("/api/chats/", f"/api/chats/{chat_id}/messages/?limit=50", "/api/me/"):
                try:
                    status = str(http.get(path).status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                counts[status] = counts.get(status, 0) + 1
            stop.wait(0.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--messages-per-second", type=float, default=5)
    parser.add_argument("--adds-per-second", type=float, default=0.5)
    args = parser.parse_args(argv)

    stack = FaultStack(Path(tempfile.mkdtemp(prefix="soak-"))).start()
    try:
        adds = int(args.seconds * args.adds_per_second) + 2
        print(f"stack up in {stack.workdir}; creating {adds} people to add", flush=True)
        world = world_create(stack.site.url, adds=adds, smtp=stack.smtp)
        run = LoadRun(
            stack,
            world,
            seconds=args.seconds,
            messages_per_second=args.messages_per_second,
            adds_per_second=args.adds_per_second,
        ).start()
        stop, browsed = threading.Event(), {}
        browser = threading.Thread(
            target=browse, args=(stack.site.url, world.admin.headers, world.chat_id, stop, browsed), daemon=True
        )
        browser.start()
        started = time.monotonic()
        time.sleep(10)  # past the start-up allocations
        samples = [{"at_seconds": round(time.monotonic() - started), "rss": rss_sample(stack)}]
        print(f"RSS at start: {json.dumps({k: v['rss_kib'] for k, v in samples[0]['rss'].items()})}", flush=True)
        while not run.load_done.wait(timeout=60):
            samples.append({"at_seconds": round(time.monotonic() - started), "rss": rss_sample(stack)})
            print(f"{samples[-1]['at_seconds']:>4} s: accepted {len(run.accepted)}", flush=True)
        samples.append({"at_seconds": round(time.monotonic() - started), "rss": rss_sample(stack)})
        stop.set()
        browser.join(15)
        counts = run.finish(timeout=120)
        first, last = samples[0]["rss"], samples[-1]["rss"]
        result = {
            "seconds": args.seconds,
            "load": {
                "messages_per_second": args.messages_per_second,
                "adds_per_second": args.adds_per_second,
                "browse_requests": browsed,
            },
            "counts": counts,
            "rss_kib": {
                name: {
                    "start": first[name]["rss_kib"],
                    "end": last[name]["rss_kib"],
                    "processes": last[name]["processes"],
                }
                for name in first
            },
            "rss_samples": samples,
            "logs": {name: error_lines(path) for name, path in logs(stack).items()},
            "load_average_end": os.getloadavg(),
            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print("\nRSS (KiB), start → end:")
        for name, rss in result["rss_kib"].items():
            print(f"  {name:<42} {rss['start']:>8} → {rss['end']:>8}  ({rss['processes']} processes)")
        print("\nper transport (accepted / delivered / lost / duplicated):")
        for name, tally in counts["transports"].items():
            print(f"  {name:<10} {tally['accepted']} / {tally['delivered']} / {tally['lost']} / {tally['duplicated']}")
        print(f"emails: {counts['emails']}")
        print("\nerror lines per log:")
        for name, found in result["logs"].items():
            print(f"  {name:<20} {found['errors']} errors, {found['warnings']} warnings, of {found['lines']}")
            for line in (found["first"] + found["first_warnings"])[:5]:
                print(f"      {line}")
        print(f"\nwritten to {RESULTS}")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
