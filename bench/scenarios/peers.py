"""Scenario 7, peers side by side: scenario 2's measurement through the product, the Django
Channels peer (bench/peers/channels/) and the python-socketio peer (bench/peers/socketio/)."""

from typing import TYPE_CHECKING, Any

from bench.measure import CORES, Loadgen, Probe, limit_text, log, phase

if TYPE_CHECKING:
    from bench.suite import Suite

NUMBER, NAME = 7, "Peers side by side"


def run(suite: "Suite") -> dict:
    """The product, the Django Channels peer and the python-socketio peer, one after the
    other in this run, each with the same population, POSTs and receipt measurement: at a
    rate all of them sustain (`--peer-rate`), then at saturation (closed loop)."""
    from django.db import connection

    from bench.peers.server import ChannelsServer, SocketIOServer
    from ops.centrifugo import database_dsn

    rate = suite.args.peer_rate
    pop = suite.pop
    systems: dict[str, dict] = {}
    windows: dict[str, dict] = {}
    for name in ("product", "channels", "socketio"):
        peer = None
        if name == "product":
            base, mode, subscribers, loadgen = suite.base(), "ws", suite.subscribers_small(), suite.loadgen
        else:
            server_class = ChannelsServer if name == "channels" else SocketIOServer
            # One process per core, as the product's gunicorn; the same bench database.
            peer = server_class(workers=CORES).start(DATABASE_URL=database_dsn(connection.settings_dict))
            loadgen = Loadgen(suite.binary, Probe(lambda peer=peer, name=name: {f"{name}-peer": peer.pids()}))
            base = {"base_url": peer.url, "ws_url": peer.ws_url, "origin": peer.url}
            base["source_addrs"] = ["127.0.0.2", "127.0.0.3"]
            mode = name
            subscribers = [
                {"token": pop.api_tokens[i], "channels": [], "chat_ids": [pop.small_chat_of(i)]}
                for i in range(suite.args.clients)
            ]
        saved, suite.loadgen = suite.loadgen, loadgen
        try:
            runs = {}
            for kind, phase_rate, duration in (
                ("shared", rate, suite.seconds(30, 10)),
                ("saturation", 0, suite.seconds(15, 8)),
            ):
                log(
                    f"scenario 7: {name}, {suite.args.clients} clients, "
                    + (f"{phase_rate:g} msg/s" if phase_rate else "saturation (closed loop, 32 clients)")
                )
                run = suite.receipt_run(
                    label=f"7 {name} {kind}",
                    mode=mode,
                    base=base,
                    subscribers=subscribers,
                    posters=suite.posters_small(),
                    rate=phase_rate,
                    duration=duration,
                    concurrency=64 if phase_rate else 32,
                )
                if peer is None:
                    suite.settle()
                summary = suite.receipt_summary([run])
                summary["figures"]["accepted_per_s"] = phase(run)["accepted_per_s"]
                runs[kind] = summary
                windows[f"7 {name} {kind}"] = summary["window"]
                g = summary["figures"]
                log(
                    f"  {g['accepted_per_s']}/s accepted; receipt p50 {g['receipt_p50_ms']} ms, "
                    f"p99 {g['receipt_p99_ms']} ms; lost {g['lost']}; {g['server_cpu_ms_per_delivery']} CPU ms "
                    "per delivery"
                )
        finally:
            suite.loadgen = saved
            if peer is not None:
                peer.stop()
        systems[name] = runs
    return peers_summary(rate, systems, windows)


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
