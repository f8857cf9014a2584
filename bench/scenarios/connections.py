"""Scenario 5, connections: `--idle` idle WebSocket clients held, memory per connection, and
connection tokens issued per second."""

import time
from typing import TYPE_CHECKING

from bench.measure import lat, limit_text, log, phase
from bench.population import connection_token, subscriptions

if TYPE_CHECKING:
    from bench.suite import Suite

NUMBER, NAME = 5, "Connections"


def run(suite: "Suite") -> dict:
    pop = suite.pop
    total = suite.args.idle
    processes = max(1, -(-total // 9000))  # each process stays below its descriptor limit
    log(f"scenario 5: {total:,} idle WebSocket clients from {processes} load generator processes")
    users = len(pop.user_ids)
    runs = []
    suite.stack.restart("centrifugo")
    time.sleep(1)
    before = suite.probe.snapshot()
    per = -(-total // processes)
    for p in range(processes):
        rows = []
        for i in range(p * per, min(total, (p + 1) * per)):
            uid = pop.user_ids[i % users]
            rows.append(
                {"token": connection_token(uid), "channels": subscriptions(uid, [], "personal"), "chat_ids": []}
            )
        runs.append(
            suite.loadgen.start(
                suite.base(
                    mode="idle",
                    label=f"5 idle {p + 1}",
                    subscribers=rows,
                    hold_s=300,
                    connect_concurrency=250,
                    connect_timeout_s=suite.seconds(150, 60),
                )
            )
        )
    for run in runs:
        run["events"]["held"].wait(timeout=suite.seconds(200, 90))
    time.sleep(2)
    held = suite.probe.snapshot()
    connected = sum(r["markers"].get("held", {}).get("connected", 0) for r in runs)
    connect_s = max(r["markers"].get("held", {}).get("connect_s", 0) for r in runs)
    results = [suite.loadgen.finish(r) for r in runs]
    still = sum(r["receipts"]["ready"] for r in results)
    disconnects = sum(r["receipts"]["disconnects"] for r in results)
    per_conn = {
        role: round((held["rss"].get(role, 0) - before["rss"].get(role, 0)) / max(connected, 1) / 1024, 1)
        for role in held["rss"]
    }
    log(f"  {connected:,} held, {connect_s:.1f} s to connect; RSS KiB per connection {per_conn}")
    # Connection tokens issued through the API, closed loop.
    duration = suite.seconds(10, 4)
    http = {
        "method": "GET",
        "path": "/api/realtime/token/",
        "posters": [{"token": t, "chat_id": 0} for t in pop.api_tokens[:1000]],
        "concurrency": 32,
        "timeout_s": 10,
        "phases": [{"name": "connection tokens", "rate": 0, "duration_s": duration}],
    }
    tokens = suite.loadgen.run(suite.base(mode="http", label="5 tokens", http=http))
    token_rate = phase(tokens)["accepted_per_s"]
    log(f"  connection tokens: {token_rate}/s, p99 {lat(tokens, 'p99')} ms")
    figures = {
        "target_clients": total,
        "held": connected,
        "connect_s": round(connect_s, 1),
        "connect_per_s": round(connected / connect_s, 1) if connect_s else None,
        "disconnects": disconnects,
        "ready_at_end": still,
        "rss_kib_per_connection": per_conn,
        "centrifugo_rss_mb_held": round(held["rss"].get("centrifugo", 0) / 2**20, 1),
        "tokens_per_s": token_rate,
        "tokens_p99_ms": lat(tokens, "p99"),
        "loadgen_processes": processes,
        # More than one where one cannot hold them within its descriptor limit (ops.centrifugo).
        "centrifugo_processes": len(suite.stack.roles().get("centrifugo", [])),
    }
    return {
        "name": "Connections",
        "target": "20,000 idle WebSocket clients held; memory per connection; connection tokens issued per second",
        "figures": figures,
        "measured": f"{connected:,} of {total:,} held ({figures['connect_per_s']}/s to connect); "
        f"{figures['centrifugo_processes']} Centrifugo process(es); Centrifugo "
        f"{per_conn.get('centrifugo')} KiB and nginx {per_conn.get('nginx')} KiB per connection; "
        f"{token_rate:,.0f} tokens/s",
        "met": connected >= total and disconnects == 0,
        "limits": "per-process descriptor limit (ulimit -Hn "
        f"{_hard_nofile()}) caps one process's sockets; " + limit_text(tokens.get("window", {})) + " (token issue)",
        "window": tokens.get("window", {}),
        "runs": [*results, tokens],
    }


def _hard_nofile() -> int:
    import resource

    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]
