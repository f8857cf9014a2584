"""Scenario 3, overload: twice scenario 1's sustainable rate for 30 s between two light
phases; refusals, their latency, deliveries and the recovery."""

from typing import TYPE_CHECKING

from bench.measure import bad_statuses, log, phase, scenario_summary

if TYPE_CHECKING:
    from bench.suite import Suite

NUMBER, NAME = 3, "Overload"
TARGET = (
    "2× the sustainable rate for 30 s: no status ≥ 500 but 503, each 503 within 100 ms; every 2xx delivered "
    "(and normal latency within 5 s after)"
)


def run(suite: "Suite") -> dict:
    s1 = suite.results.get("1", {}).get("figures", {})
    sustainable = s1.get("saturation_accepted_per_s") or 500
    rate = round(2 * sustainable)
    duration, after = suite.seconds(30, 10), suite.seconds(10, 5)
    log(
        f"scenario 3: 20/s for 5 s, then 2 × {sustainable:.0f}/s = {rate}/s for {duration:.0f} s, "
        f"then 20/s for {after:.0f} s"
    )
    http = {
        "posters": suite.posters_small(),
        "concurrency": 256,
        "timeout_s": 10,
        "max_inflight": 8192,
        "phases": [
            {"name": "before", "rate": 20, "duration_s": 5},
            {"name": "overload", "rate": rate, "duration_s": duration},
            {"name": "after", "rate": 20, "duration_s": after},
        ],
    }
    result = suite.loadgen.receipts(
        suite.base(mode="ws", label="3 overload", subscribers=suite.subscribers_small(), drain_s=15),
        suite.base(mode="post", label="3 overload", http=http),
    )
    suite.settle()
    before, over, tail = phase(result, 0), phase(result, 1), phase(result, 2)
    statuses = {
        k: over["statuses"].get(k, 0) + tail["statuses"].get(k, 0) for k in {**over["statuses"], **tail["statuses"]}
    }
    refused = over["latency_by_status_ms"].get("503") or {}
    bad = bad_statuses(statuses)
    rec = result["receipts"]
    # Normal: twice the p99 of the same light load just before, and at least 50 ms.
    normal = max(50.0, 2 * ((before.get("latency_ms") or {}).get("p99") or 25))
    # The first second of the tail from which every second's p99 is normal again.
    timeline = tail.get("timeline") or []
    recovered = next((b["t"] for i, b in enumerate(timeline) if all(x["p99_ms"] <= normal for x in timeline[i:])), None)
    log(
        f"  statuses {statuses}; 503 max {refused.get('max')} ms; lost {rec['lost']}; "
        f"back to normal after {recovered} s"
    )
    figures = {
        "offered_per_s": rate,
        "statuses": statuses,
        "not_2xx_or_503": sum(bad.values()),
        "refused_503": statuses.get("503", 0),
        "refused_p99_ms": refused.get("p99"),
        "refused_max_ms": refused.get("max"),
        "retry_after_missing": over["retry_after_missing"] + tail["retry_after_missing"],
        "bad_error_body": over.get("bad_error_body", 0) + tail.get("bad_error_body", 0),
        "accepted_per_s": over["accepted_per_s"],
        "accepted_p99_ms": (over["latency_by_status_ms"].get("201") or {}).get("p99"),
        "lost": rec["lost"],
        "duplicated": rec["duplicated"],
        "expected": rec["expected"],
        "dropped_by_loadgen": over["dropped_by_loadgen"],
        "normal_p99_ms": normal,
        "back_to_normal_after_s": recovered,
    }
    met = (
        figures["not_2xx_or_503"] == 0
        and (not figures["refused_503"] or (figures["refused_max_ms"] or 0) <= 100)
        and figures["retry_after_missing"] == 0
        and figures["bad_error_body"] == 0
        and rec["lost"] == 0
        and recovered is not None
        and recovered <= 5
    )
    measured = (
        f"{rate}/s offered: {statuses}; 503 max {figures['refused_max_ms']} ms; "
        f"lost {rec['lost']} of {rec['expected']}; "
        f"normal (p99 ≤ {normal:.0f} ms) after {recovered} s"
    )
    return scenario_summary(NAME, TARGET, figures, measured, met, result)
