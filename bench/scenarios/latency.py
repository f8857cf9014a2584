"""Scenario 2, latency: POST → WebSocket receipt, `--clients` clients in chats of 10, `--rate`
messages a second for 60 s (`--repeat-latency` runs). `--profile SECONDS` adds Centrifugo's
CPU profile from 10 s into each run (every node's, merged; bench.go_profile). Each run also
reads the POST's p50 / p99 in Django from the web's own histograms (bench.web_metrics)."""

from typing import TYPE_CHECKING

from bench import web_metrics
from bench.go_profile import pprof_start, pprof_top
from bench.measure import log, med

if TYPE_CHECKING:
    from bench.suite import Suite

NUMBER, NAME = 2, "Latency"
TARGET = (
    "1,000 WebSocket clients in chats of 10, 200 msg/s for 60 s: POST → receipt p50 ≤ 8 ms, p99 ≤ 25 ms; "
    "0 lost, 0 duplicated, 0 × 503"
)


def run(suite: "Suite") -> dict:
    runs = []
    repeat = suite.args.repeat_latency
    for rep in range(repeat):
        log(
            f"scenario 2, run {rep + 1}/{repeat}: {suite.args.clients} WebSocket clients, chats of 10, "
            f"{suite.args.rate:g} msg/s"
        )
        recordings = [
            # Into the window: the clients connect first (a second or two).
            pprof_start(node.internal_url, seconds=suite.args.profile, out=suite.out / f"pprof-2-{n}.pb", after=10)
            for n, node in enumerate(suite.stack.centrifugo.nodes)
            if suite.args.profile
        ]
        web_port = suite.stack.site.web.port
        before = web_metrics.histograms(web_port)
        result = suite.receipt_run(
            label="2 latency",
            mode="ws",
            base=suite.base(),
            subscribers=suite.subscribers_small(),
            posters=suite.posters_small(),
        )
        result["in_django"] = web_metrics.window_figures(before, web_metrics.histograms(web_port))
        if recordings:
            result["centrifugo_profile"] = pprof_top(recordings, per=suite.args.rate * suite.args.profile)
        runs.append(result)
        suite.settle()
        rec = result["receipts"]
        log(
            f"  receipt p50 {rec['latency_ms'] and rec['latency_ms']['p50']} ms, p99 "
            f"{rec['latency_ms'] and rec['latency_ms']['p99']} ms; lost {rec['lost']}, dup {rec['duplicated']}, "
            f"ready {rec['ready']}/{rec['subscribers']}"
        )
    summary = suite.receipt_summary(runs)
    f = summary["figures"]
    # Beside the client's POST p50 / p99: how much of it Django's own (bench.web_metrics).
    # Counts are every run's together; the rest are medians.
    for key in runs[0]["in_django"]:
        values = [run["in_django"][key] for run in runs]
        f[key] = sum(values) if key in web_metrics.COUNTS else med(values)
    summary.update(
        name="Latency",
        target=TARGET,
        measured=f"p50 {f['receipt_p50_ms']} ms, p99 {f['receipt_p99_ms']} ms; "
        f"lost {f['lost']}, duplicated {f['duplicated']}, {f['not_accepted']} POSTs not accepted"
        + (f" ({f['refused_in_web']} of them refused by the web)" if f["not_accepted"] else "")
        + f" ({f['ready']} clients, {f['accepted']} POSTs accepted, median of {len(runs)})",
        met=bool(
            f["receipt_p50_ms"] is not None
            and f["receipt_p50_ms"] <= 8
            and f["receipt_p99_ms"] <= 25
            and f["lost"] == 0
            and f["duplicated"] == 0
            and f["not_accepted"] == 0
            and f["ready"] == suite.args.clients
        ),
    )
    return summary
