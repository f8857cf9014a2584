"""Prints bench/results/transports.json as the Markdown table of docs/transports.md.

.venv/bin/python -m bench.transports.report [bench/results/transports.json]
"""

import json
import sys
from pathlib import Path

from bench.transports.__main__ import RESULTS, TRANSPORTS


def _cell(value, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}" if isinstance(value, float | int) else str(value)


def table(results: list[dict]) -> str:
    lines = [
        "| clients | msg/s | transport | req/s (poll: N/T) | server CPU s | CPU ms/event | PostgreSQL CPU s "
        "| bytes/event | p50 ms | p99 ms | delivered |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        expected = ""
        if r["transport"].startswith("poll-"):
            expected = f" ({r['clients'] / (1 if r['transport'] == 'poll-1s' else 5):,.0f})"
        pool = " + pool" if r.get("django_pool") else ""
        lines.append(
            f"| {r['clients']:,} | {r['rate']:g} | {TRANSPORTS[r['transport']][1]}{pool} "
            f"| {_cell(r['requests_per_s'], 1)}{expected} | {_cell(r['server_cpu_s'], 2)} "
            f"| {_cell(r['server_cpu_ms_per_event'], 2)} | {_cell(r['postgres_cpu_s'], 1)} "
            f"| {_cell(r['bytes_per_event'])} | {_cell(r['latency_p50_ms'])} | {_cell(r['latency_p99_ms'])} "
            f"| {r['delivered']:,}/{r['expected_deliveries']:,} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS / "transports.json"
    data = json.loads(path.read_text())
    print(f"Run: `{data['meta']['command']}` on {data['meta']['date']}, {data['meta']['cpus']} CPUs.\n")
    print(table(data["results"]))
