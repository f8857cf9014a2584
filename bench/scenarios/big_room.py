"""Scenario 4, big room: a room of `--big-room` members (`--big-room-clients` connected)
against a 2-member chat; POST latency, receipts, memory per big-room message."""

from typing import TYPE_CHECKING

from bench.measure import bad_statuses, log, phase, scenario_summary
from bench.population import connection_token, subscriptions

if TYPE_CHECKING:
    from bench.suite import Suite

NUMBER, NAME = 4, "Big room"
TARGET = (
    "10,000 members: POST p50 ≤ 2× a 2-member chat's; every connected member has it within 1 s (p99); "
    "memory per big-room message per process"
)


def run(suite: "Suite") -> dict:
    pop = suite.pop
    big_id, members = pop.big_chat
    pair_id = pop.pair_chat[0]
    clients = min(suite.args.big_room_clients, len(members))
    log(f"scenario 4: a room of {len(members)} members, {clients} connected, against a 2-member chat")
    # A fresh Centrifugo: its memory is then this scenario's (Go keeps what it freed).
    suite.stack.restart("centrifugo")
    subscribers = [
        {
            "token": connection_token(pop.user_ids[i]),
            "channels": subscriptions(pop.user_ids[i], [big_id], suite.channel_mode),
            "chat_ids": [big_id],
        }
        for i in members[:clients]
    ]
    # One big-room message a second (and one to the pair): each is 10,000 deliveries.
    rate, duration = 2, suite.seconds(16, 6)
    http = {
        # Authors in turn: the product throttles each account's posting (120/min).
        "posters": [
            poster
            for i in range(20)
            for poster in (
                {"token": pop.api_tokens[members[i]], "chat_id": big_id},
                {"token": pop.api_tokens[i % 2], "chat_id": pair_id},
            )
        ],
        "concurrency": 4,
        "timeout_s": 10,
        "phases": [{"name": "big room and pair", "rate": rate, "duration_s": duration}],
    }
    result = suite.loadgen.receipts(
        suite.base(mode="ws", label="4 big room", subscribers=subscribers, drain_s=20, connect_concurrency=500),
        suite.base(mode="post", label="4 big room", http=http),
        settle=2,
    )
    suite.outbox_drain()
    after = suite.probe.snapshot()
    before = result["snapshots"].get("ready")
    big_messages = int(rate * duration / 2)
    memory = {}
    if before:
        for role, value in after["rss"].items():
            memory[role] = round((value - before["rss"].get(role, 0)) / big_messages / 1024, 1)
    by_chat = phase(result).get("latency_by_chat_ms") or {}
    big, pair = by_chat.get(str(big_id)) or {}, by_chat.get(str(pair_id)) or {}
    rec = result["receipts"]
    figures = {
        "members": len(members),
        "connected": rec["ready"],
        "statuses": phase(result)["statuses"],
        "big_post_p50_ms": big.get("p50"),
        "pair_post_p50_ms": pair.get("p50"),
        "big_post_p99_ms": big.get("p99"),
        "receipt_p50_ms": (rec.get("latency_ms") or {}).get("p50"),
        "receipt_p99_ms": (rec.get("latency_ms") or {}).get("p99"),
        "lost": rec["lost"],
        "duplicated": rec["duplicated"],
        "expected": rec["expected"],
        "big_messages": big_messages,
        "rss_kib_per_big_message": memory,
        "connect_per_s": rec["connect_per_s"],
    }
    ratio = big["p50"] / pair["p50"] if big.get("p50") and pair.get("p50") else None
    figures["post_p50_ratio"] = round(ratio, 2) if ratio else None
    met = bool(
        ratio
        and ratio <= 2
        and not bad_statuses(figures["statuses"])
        and figures["receipt_p99_ms"] is not None
        and figures["receipt_p99_ms"] <= 1000
        and rec["lost"] == 0
    )
    log(
        f"  POST p50 big {big.get('p50')} ms vs pair {pair.get('p50')} ms; "
        f"receipt p99 {figures['receipt_p99_ms']} ms; lost {rec['lost']}"
    )
    measured = (
        f"{rec['ready']:,} of {len(members):,} members connected; POSTs {figures['statuses']}; "
        f"accepted POST p50 {big.get('p50')} ms vs {pair.get('p50')} ms "
        f"(×{figures['post_p50_ratio']}); receipt p99 {figures['receipt_p99_ms']} ms, lost {rec['lost']}; "
        f"RSS KiB per big-room message: {memory}"
    )
    return scenario_summary(NAME, TARGET, figures, measured, met, result)
