"""Scenario 2, latency: POST → WebSocket receipt, `--clients` clients in chats of 10, `--rate`
messages a second for 60 s (`--repeat-latency` runs), then one run at `--high-rate` (issue 19
asks a p99 there too; its figures are the `high_rate_` ones). `--profile SECONDS` adds
Centrifugo's CPU profile from 10 s into each run at `--rate` (every node's, merged;
bench.go_profile). Each run also reads the POST's p50 / p99 in Django from the web's own
histograms (bench.web_metrics)."""

from typing import TYPE_CHECKING

from bench import web_metrics
from bench.go_profile import pprof_start, pprof_top
from bench.measure import log, med

if TYPE_CHECKING:
    from bench.suite import Suite

NUMBER, NAME = 2, "Latency"
TARGET = (
    "1,000 WebSocket clients in chats of 10, 200 msg/s for 60 s: POST → receipt p50 ≤ 8 ms, p99 ≤ 25 ms; "
    "0 lost, 0 duplicated, 0 × 503; at 500 msg/s: p99 ≤ 50 ms, 0 lost, 0 duplicated"
)
HIGH_RATE_P99_MS = 50
# Of the high-rate run's figures, those reported (prefixed `high_rate_`).
HIGH_RATE_FIGURES = (
    "receipt_p50_ms",
    "receipt_p99_ms",
    "lost",
    "duplicated",
    "accepted",
    "not_accepted",
    "server_cpu_ms_per_delivery",
    "loadgen_cores",
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
        result = receipt_run(suite, label="2 latency", rate=suite.args.rate)
        result["in_django"] = web_metrics.window_figures(before, web_metrics.histograms(web_port))
        if recordings:
            result["centrifugo_profile"] = pprof_top(recordings, per=suite.args.rate * suite.args.profile)
        runs.append(result)
        suite.settle()
        log_receipts(result)
    high = high_rate_run(suite)
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
    if high is not None:
        hf = high["figures"]
        f["high_rate"] = suite.args.high_rate
        f.update({f"high_rate_{key}": hf[key] for key in HIGH_RATE_FIGURES})
        summary["measured"] += (
            f"; at {suite.args.high_rate:g}/s: p50 {hf['receipt_p50_ms']} ms, p99 {hf['receipt_p99_ms']} ms, "
            f"lost {hf['lost']}, duplicated {hf['duplicated']}, {hf['not_accepted']} POSTs not accepted"
        )
        summary["met"] = bool(
            summary["met"]
            and hf["receipt_p99_ms"] is not None
            and hf["receipt_p99_ms"] <= HIGH_RATE_P99_MS
            and hf["lost"] == 0
            and hf["duplicated"] == 0
            and hf["ready"] == suite.args.clients
        )
        summary["limits"] += f"; at {suite.args.high_rate:g}/s: {high['limits']}"
        summary["windows"] = {"2": summary["window"], f"2 at {suite.args.high_rate:g}/s": high["window"]}
        summary["high_rate_run"] = high["runs"][0]
    return summary


def high_rate_run(suite: "Suite") -> dict | None:
    """One run at `--high-rate` after those at `--rate`, summarised as they are."""
    rate = suite.args.high_rate
    if not rate:
        return None
    log(f"scenario 2, at a high rate: {suite.args.clients} WebSocket clients, chats of 10, {rate:g} msg/s")
    result = receipt_run(suite, label="2 latency at a high rate", rate=rate)
    suite.settle()
    log_receipts(result)
    return suite.receipt_summary([result])


def receipt_run(suite: "Suite", *, label: str, rate: float) -> dict:
    """One run of `--clients` WebSocket clients in chats of 10, `rate` POSTs a second."""
    return suite.receipt_run(
        label=label,
        mode="ws",
        base=suite.base(),
        subscribers=suite.subscribers_small(),
        posters=suite.posters_small(),
        rate=rate,
    )


def log_receipts(result: dict) -> None:
    rec = result["receipts"]
    log(
        f"  receipt p50 {rec['latency_ms'] and rec['latency_ms']['p50']} ms, p99 "
        f"{rec['latency_ms'] and rec['latency_ms']['p99']} ms; lost {rec['lost']}, dup {rec['duplicated']}, "
        f"ready {rec['ready']}/{rec['subscribers']}"
    )
