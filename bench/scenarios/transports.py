"""Scenario 6, long polling and SSE: `python -m bench transports` at 1,000 clients and 20 msg/s,
the product's transports beside nginx + Nchan's, and Centrifugo's WebSocket beside both (CPU
per delivered event of each)."""

import json
import subprocess
import sys
from typing import TYPE_CHECKING

from bench.measure import ROOT, log

if TYPE_CHECKING:
    from bench.suite import Suite

NUMBER, NAME = 6, "Long polling and SSE"
TARGET = (
    "bench/transports at 1,000 clients and 20 msg/s: p99 within 1.5× of nginx + Nchan's in the same run, "
    "0 refused, 0 lost, 0 duplicated (issue 16)"
)


def run(suite: "Suite") -> dict:
    out = suite.out / "bench_transports.json"
    duration = suite.seconds(10, 5)
    command = [
        sys.executable,
        "-m",
        "bench",
        "transports",
        "--clients",
        "1000",
        "--rates",
        "20",
        "--transports",
        "long-poll,sse,nchan-long-poll,nchan-sse,ws",
        "--duration",
        str(duration),
        "--pool",
        "--out",
        str(out),
    ]
    log("scenario 6: " + " ".join(command[1:]))
    subprocess.run(command, cwd=ROOT, check=True, timeout=600)
    data = json.loads(out.read_text())
    rows = {r["transport"]: r for r in data["results"]}
    figures = {}
    met = True
    for ours, peer in (("long-poll", "nchan-long-poll"), ("sse", "nchan-sse")):
        a, b = rows.get(ours, {}), rows.get(peer, {})
        ratio = (
            a["latency_p99_ms"] / b["latency_p99_ms"] if a.get("latency_p99_ms") and b.get("latency_p99_ms") else None
        )
        figures[ours] = {
            "p99_ms": a.get("latency_p99_ms"),
            "nchan_p99_ms": b.get("latency_p99_ms"),
            "ratio": round(ratio, 2) if ratio else None,
            "delivered": f"{a.get('delivered')}/{a.get('expected_deliveries')}",
            "server_cpu_ms_per_event": a.get("server_cpu_ms_per_event"),
            "nchan_cpu_ms_per_event": b.get("server_cpu_ms_per_event"),
            "refused": a.get("refused"),
            "duplicates": a.get("duplicates"),
            "lost": a.get("lost"),
        }
        met = (
            met
            and ratio is not None
            and ratio <= 1.5
            and a.get("delivered") == a.get("expected_deliveries")
            and not a.get("refused")
            and not a.get("duplicates")
        )
    ws = rows.get("ws", {})
    figures["ws"] = {
        "p99_ms": ws.get("latency_p99_ms"),
        "delivered": f"{ws.get('delivered')}/{ws.get('expected_deliveries')}",
        "server_cpu_ms_per_event": ws.get("server_cpu_ms_per_event"),
    }
    cpu = ", ".join(f"{k} {rows[k].get('server_cpu_ms_per_event')}" for k in rows)
    return {
        "name": "Long polling and SSE",
        "target": TARGET,
        "figures": figures,
        "measured": "; ".join(
            f"{k}: p99 {v['p99_ms']} ms vs Nchan {v['nchan_p99_ms']} ms (×{v['ratio']}), delivered {v['delivered']}"
            for k, v in figures.items()
            if k != "ws"
        )
        + f"; ws (Centrifugo): p99 {figures['ws']['p99_ms']} ms, delivered {figures['ws']['delivered']};"
        + f" server CPU ms per delivered event: {cpu}",
        "met": met,
        "limits": "its own uvicorn (not behind nginx) and Nchan, see bench/results/bench_transports.json; "
        + ", ".join(
            f"{k} server CPU {rows.get(k, {}).get('server_cpu_s')} s" for k in ("long-poll", "sse", "nchan-sse", "ws")
        ),
        "runs": [data],
    }
