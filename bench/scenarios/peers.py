"""Scenario 7, peers side by side: scenario 2's measurement through the product, the Django
Channels peer (bench/peers/channels/) and the python-socketio peer (bench/peers/socketio/)."""

import time
from typing import TYPE_CHECKING, Any

from bench.measure import CORES, Loadgen, Probe, client_addresses, limit_text, log, phase

if TYPE_CHECKING:
    from bench.peers.server import PeerServer
    from bench.suite import Suite

NUMBER, NAME = 7, "Peers side by side"


def run(suite: "Suite") -> dict:
    """The product, the Django Channels peer and the python-socketio peer, each with the same
    population, POSTs and receipt measurement: all three at a rate all of them sustain
    (`--peer-rate`), then all three at saturation (closed loop), so that the runs compared
    with each other are minutes apart at most on a machine whose other load changes. Both
    peers stay up, idle, while the others are measured."""
    rate = suite.args.peer_rate
    peers = {name: _peer_start(name) for name in ("channels", "socketio")}
    try:
        systems: dict[str, dict] = {"product": {}, **{name: {} for name in peers}}
        windows: dict[str, dict] = {}
        for kind, phase_rate, duration in (
            ("shared", rate, suite.seconds(30, 10)),
            ("saturation", 0, suite.seconds(15, 8)),
        ):
            for name in systems:
                summary = _measure(suite, name, peers.get(name), phase_rate, duration)
                systems[name][kind] = summary
                windows[f"7 {name} {kind}"] = summary["window"]
    finally:
        for peer in peers.values():
            peer.stop()
    return peers_summary(rate, systems, windows)


def _peer_start(name: str) -> "PeerServer":
    from bench.peers.server import ChannelsServer, SocketIOServer
    from core.database import database_url

    server_class = ChannelsServer if name == "channels" else SocketIOServer
    # One process per core, as the product's granian; the same bench database.
    return server_class(workers=CORES).start(DATABASE_URL=database_url(sslmode="disable"))


def _measure(suite: "Suite", name: str, peer: "PeerServer | None", rate: float, duration: float) -> dict:
    """One run of scenario 2's measurement through the product (`peer` None) or a peer."""
    offered = f"{rate:g} msg/s" if rate else "saturation (closed loop, 32 clients)"
    log(f"scenario 7: {name}, {suite.args.clients} clients, {offered}")
    posts = {"posters": suite.posters_small(), "rate": rate, "duration": duration, "concurrency": 64 if rate else 32}
    kind = "shared" if rate else "saturation"
    if peer is None:
        run = suite.receipt_run(
            label=f"7 {name} {kind}", mode="ws", base=suite.base(), subscribers=suite.subscribers_small(), **posts
        )
        _quiet(suite)
    else:
        base = {"base_url": peer.url, "ws_url": peer.ws_url, "origin": peer.url}
        base["source_addrs"] = client_addresses(suite.args.clients)
        # The peers join a socket to its user's chats themselves: the API token is enough.
        subscribers = [
            {"token": suite.pop.api_tokens[i], "channels": [], "chat_ids": [suite.pop.small_chat_of(i)]}
            for i in range(suite.args.clients)
        ]
        probe = Probe(lambda role=f"{name}-peer": {role: peer.pids()})
        saved, suite.loadgen = suite.loadgen, Loadgen(suite.binary, probe)
        try:
            run = suite.receipt_run(label=f"7 {name} {kind}", mode=name, base=base, subscribers=subscribers, **posts)
        finally:
            suite.loadgen = saved
        _quiet(suite, probe)
    summary = suite.receipt_summary([run])
    summary["figures"]["accepted_per_s"] = phase(run)["accepted_per_s"]
    f = summary["figures"]
    log(
        f"  {f['accepted_per_s']}/s accepted; receipt p50 {f['receipt_p50_ms']} ms, p99 {f['receipt_p99_ms']} ms; "
        f"lost {f['lost']}; {f['server_cpu_ms_per_delivery']} CPU ms per delivery"
    )
    return summary


def _quiet(suite: "Suite", probe: Probe | None = None, timeout: float = 20) -> None:
    """After a run, until the system is idle: the product's own settle (outbox, the WSGI server), or a
    peer's processes below a tenth of a core (a saturated peer still sends its backlog)."""
    if probe is None:
        suite.settle()
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = probe.snapshot()
        time.sleep(1.0)
        after = probe.snapshot()
        if sum(after["cpu"][k] - before["cpu"].get(k, 0) for k in after["cpu"] if k.endswith("-peer")) < 0.1:
            return
    log(f"  the peer did not go quiet in {timeout:.0f} s")


def peers_summary(rate: float, systems: dict[str, dict], windows: dict[str, dict]) -> dict:
    keys = (
        "accepted_per_s",
        "receipt_p50_ms",
        "receipt_p99_ms",
        "post_p50_ms",
        "post_p99_ms",
        "lost",
        "duplicated",
        "ready",
        "server_cpu_ms_per_delivery",
    )
    table = {
        name: {kind: {k: s["figures"].get(k) for k in keys} for kind, s in runs.items()}
        for name, runs in systems.items()
    }
    figures: dict[str, Any] = {"peer_rate": rate, "systems": table}
    met = True
    for peer in ("channels", "socketio"):
        ours, theirs = table["product"]["shared"], table[peer]["shared"]
        for key, short in (("receipt_p99_ms", "p99"), ("server_cpu_ms_per_delivery", "cpu")):
            ratio = theirs[key] / ours[key] if theirs.get(key) and ours.get(key) else None
            figures[f"{short}_ratio_{peer}_over_product"] = round(ratio, 2) if ratio else None
            met = met and ratio is not None and ratio >= 5
    measured = "; ".join(
        f"{name}: at {rate:g}/s p50 {r['shared']['receipt_p50_ms']} / p99 {r['shared']['receipt_p99_ms']} ms, "
        f"{r['shared']['server_cpu_ms_per_delivery']} CPU ms per delivery, lost {r['shared']['lost']}; "
        f"saturation {r['saturation']['accepted_per_s']}/s, p99 {r['saturation']['receipt_p99_ms']} ms, "
        f"{r['saturation']['server_cpu_ms_per_delivery']} CPU ms per delivery"
        for name, r in table.items()
    )
    ratios = ", ".join(
        f"{peer}/product p99 ×{figures[f'p99_ratio_{peer}_over_product']}, "
        f"CPU ×{figures[f'cpu_ratio_{peer}_over_product']}"
        for peer in ("channels", "socketio")
    )
    middle = windows.get("7 channels shared", {})
    return {
        "name": "Peers side by side",
        "target": "scenario 2's measurement through the product, Django Channels (bench/peers/channels/) and "
        "python-socketio (bench/peers/socketio/) in the same run, at a rate all sustain and at saturation: "
        "the product ≥ 5× better than each peer in p99 and in CPU per delivered message at that rate",
        "figures": figures,
        "measured": f"{measured}. At {rate:g}/s: {ratios}",
        "met": met,
        "limits": "; ".join(f"{label}: {limit_text(w)}" for label, w in windows.items()),
        "window": middle,
        "windows": windows,
    }
