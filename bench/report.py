"""docs/performance.md and the PNG charts, from the results of one `make bench` run.

The charts are rendered beside bench.json (bench/results/*.png, ignored by git): the JSON is
the record, the pictures are a view of it. `python -m bench report` renders both again from
bench/results/bench.json (after a change here)."""

from pathlib import Path
from typing import Any

TARGET_ORDER = ["1", "2", "3", "4", "5", "6", "7"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def charts(results: dict[str, dict], directory: Path) -> list[Path]:
    """One PNG per chart that has data: POST timelines (1, 3), receipt latency (2 vs 7),
    CPU by process for every scenario."""
    plt = _plt()
    written = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        written.append(directory / name)
        fig.savefig(written[-1], dpi=100)
        plt.close(fig)

    def timeline_axes(ax_rate, ax_lat, run: dict) -> None:
        offset = 0
        for ph in run.get("phases", []):
            tl = ph.get("timeline") or []
            t = [offset + b["t"] for b in tl]
            ok = [sum(v for k, v in b["statuses"].items() if k.startswith("2")) for b in tl]
            refused = [b["statuses"].get("503", 0) for b in tl]
            ax_rate.plot(t, ok, label=f"{ph['name']}: 2xx/s")
            if any(refused):
                ax_rate.plot(t, refused, "--", label=f"{ph['name']}: 503/s")
            ax_lat.plot(t, [b["p99_ms"] for b in tl], label=f"{ph['name']} p99")
            offset += len(tl)

    panels = []
    if results.get("1", {}).get("runs"):
        runs = results["1"]["runs"]
        panels.append(("1. throughput", [runs["saturation"][0], runs["at_500"][0]]))
    if results.get("3", {}).get("runs"):
        panels.append(("3. overload", [results["3"]["runs"][0]]))
    if panels:
        fig, axes = plt.subplots(2, len(panels), figsize=(7 * len(panels), 8), squeeze=False)
        for col, (title, runs) in enumerate(panels):
            for run in runs:
                timeline_axes(axes[0][col], axes[1][col], run)
            axes[0][col].set_title(f"{title}: answers per second, by the second they were sent")
            axes[1][col].set_title(f"{title}: POST latency p99 (ms)")
            axes[1][col].set_yscale("log")
            for ax in axes[:, col]:
                ax.grid(alpha=0.3)
                ax.legend(fontsize=7)
                ax.set_xlabel("s")
        save(fig, "bench_posts.png")

    receipts = [
        (f"{n}. {results[n]['name']}", results[n]["figures"])
        for n in ("2", "4")
        if results.get(n, {}).get("figures", {}).get("receipt_p50_ms")
    ]
    for system, kinds in ((results.get("7") or {}).get("figures", {}).get("systems") or {}).items():
        for kind, figures in kinds.items():
            if figures.get("receipt_p50_ms"):
                receipts.append((f"7. {system}, {kind}", figures))
    if receipts:
        fig, ax = plt.subplots(figsize=(9, 4.5))
        keys = ["receipt_p50_ms", "receipt_p99_ms"]
        width = 0.8 / len(receipts)
        for i, (label, figures) in enumerate(receipts):
            values = [figures.get(k) or 0 for k in keys]
            ax.bar([x + i * width for x in range(len(keys))], values, width, label=label)
        ax.set_xticks([x + width * (len(receipts) - 1) / 2 for x in range(len(keys))])
        ax.set_xticklabels(["p50", "p99"])
        ax.set_yscale("log")
        ax.set_ylabel("POST → receipt (ms)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title("POST → WebSocket receipt")
        save(fig, "bench_receipts.png")

    windows = [(label or f"{n}. {results[n].get('name')}", w) for n, label, w in _windows(results)]
    if windows:
        roles = sorted({k for _, w in windows for k in w["cores"]})
        fig, ax = plt.subplots(figsize=(max(9, 1.2 * len(windows)), 4.5))
        bottom = [0.0] * len(windows)
        for role in roles:
            values = [max(0.0, w["cores"].get(role, 0)) for _, w in windows]
            ax.bar([label for label, _ in windows], values, bottom=bottom, label=role)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_ylabel("cores busy over the measured window")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.set_title("CPU by process (the load generator included)")
        plt.setp(ax.get_xticklabels(), rotation=15, fontsize=8)
        save(fig, "bench_cpu.png")
    return written


def _verdict(met: Any) -> str:
    return {True: "**met**", False: "**not met**", None: "n/a"}[met]


def _host_speed(meta: dict) -> str:
    """The host's speed at the run's start and end (bench/host_speed.py), where the run has it."""
    start_end = meta.get("host_reference_ms")
    if not start_end:
        return ""
    return (
        f"the host's reference work (`python -m bench host-speed`, lower is faster) took "
        f"{start_end[0]} ms of CPU at the start and {start_end[1]} at the end; "
    )


def performance_md(meta: dict, results: dict[str, dict], chart_paths: list[Path], path: Path) -> None:
    lines = [
        "# Performance",
        "",
        "Written by `make bench` (`python -m bench`, bench/suite.py, bench/scenarios/) from its last run;",
        "do not edit by hand (`python -m bench report` renders it again from bench/results/bench.json).",
        "Everything runs on this one machine: the servers, PostgreSQL and the load generator",
        "(bench/loadgen, in Go: fasthttp for the requests, centrifuge-go for the WebSockets), whose",
        "own CPU is listed with the servers'.",
        "",
        f"Run: `{meta['command']}` on {meta['date']}, {meta['cpus']} CPUs, commit {meta['git']}, "
        f"{meta['elapsed_s']} s in all; load average at the end {', '.join(f'{v:.2f}' for v in meta['load_average'])}; "
        f"{_host_speed(meta)}Centrifugo channels: `{meta['channels']}`."
        + (" **Quick run: short phases, not figures.**" if meta["quick"] else ""),
        "",
        "| # | scenario | target | measured | verdict |",
        "|---|---|---|---|---|",
    ]
    for n in TARGET_ORDER:
        r = results.get(n)
        if not r:
            continue
        lines.append(
            f"| {n} | {r.get('name')} | {r.get('target', '')} | {r.get('measured', '')} | {_verdict(r.get('met'))} |"
        )
    lines += ["", "## What limits each", ""]
    for n in TARGET_ORDER:
        r = results.get(n)
        if not r:
            continue
        lines.append(
            f"- **{n}. {r.get('name')}**: {r.get('limits', '')}{_share(r.get('window') or {})}{_stood_still(r)}"
        )
    lines += [
        "",
        "## CPU over each measured window (cores busy)",
        "",
        "| # | " + " | ".join(_roles(results)) + " | machine | load | host ms |",
    ]
    lines.append("|---|" + "---:|" * (len(_roles(results)) + 3))
    for n, label, w in _windows(results):
        cells = " | ".join(f"{w['cores'].get(role, 0):.2f}" for role in _roles(results))
        host = results[n].get("host_reference_ms", "")
        lines.append(
            f"| {label or n} | {cells} | {w.get('machine_busy_cores')} | {w.get('load_average_1m')} | {host} |"
        )
    lines += [
        "",
        "`loadgen` is the load generator itself. `postgres` counts the backends of the bench database",
        "only; `redis` is the whole Redis server: the throttles' counters, the peers' channel layer,",
        "and the broker and history of the product's Centrifugo nodes when there are several, as",
        "`make run` starts them here (`ops.centrifugo.node_count`). The machine column counts every",
        "process, other work on the machine included: when it is near the core count while the",
        "servers' own columns are low, the run was starved by other work and its latencies say more",
        "about the machine than about the product. `host ms` is the host's speed as the scenario",
        "began: the CPU milliseconds of `python -m bench host-speed`'s fixed piece of Python (lower",
        "is faster; other work on the host can slow it by half without showing in the load).",
        "",
    ]
    lines += _peers_table(results.get("7"))
    if chart_paths:
        lines += [
            "Charts of the run, rendered by `make bench` beside bench.json (bench/results/ after a whole "
            "run; not committed): " + ", ".join(f"`{chart.name}`" for chart in chart_paths) + ".",
            "",
        ]
    lines += ["## Figures", "", "Every figure of the run is in `bench/results/bench.json`; the main ones:", ""]
    for n in TARGET_ORDER:
        r = results.get(n)
        if not r or not r.get("figures"):
            continue
        lines.append(f"- **{n}**: " + ", ".join(f"{k} {v}" for k, v in r["figures"].items() if not isinstance(v, dict)))
    path.write_text("\n".join(lines) + "\n" + _kept_part(path))


# Below this line docs/performance.md is written by hand (the profiles): kept as it is.
KEPT_MARKER = "<!-- written by hand below: make bench keeps it -->"


def _kept_part(path: Path) -> str:
    text = path.read_text() if path.exists() else ""
    return "\n" + text[text.index(KEPT_MARKER) :] if KEPT_MARKER in text else ""


def _stood_still(result: dict) -> str:
    """The machine's own pauses during the scenario (bench.host_speed.StillWatch)."""
    stills = result.get("machine_stood_still_s") or []
    if not stills:
        return ""
    return (
        f". **The whole machine stood still {len(stills)} time(s) during it, the longest {max(stills)} s**"
        " (every process at once, the load generator's clock running on): its figures measured"
        " that pause, not the servers"
    )


def _share(window: dict) -> str:
    """How much of the machine's busy CPU was this run's (servers and load generator)."""
    busy, cores = window.get("machine_busy_cores"), window.get("cores") or {}
    if not busy or not cores:
        return ""
    ours = sum(v for v in cores.values() if v > 0)
    return (
        f". Of the {busy:.2f} busy cores, {ours:.2f} were this run's processes and "
        f"{max(0.0, busy - ours):.2f} other work on the machine"
    )


def _windows(results: dict[str, dict]) -> list[tuple[str, str | None, dict]]:
    """Each measured window with CPU figures: (scenario, its label, the window). A scenario
    measured in several windows (2 at its two rates, 7 per system and rate) names each in
    `windows`; the others have one, unnamed (None)."""
    found = []
    for n in TARGET_ORDER:
        r = results.get(n) or {}
        named = r.get("windows") or {None: r.get("window") or {}}
        found += [(n, label, w) for label, w in named.items() if w.get("cores")]
    return found


def _roles(results: dict[str, dict]) -> list[str]:
    roles: set[str] = {role for _, _, w in _windows(results) for role in w["cores"]}
    order = ["nginx", "web", "uvicorn", "centrifugo", "channels-peer", "socketio-peer", "postgres", "redis"]
    order.append("loadgen")
    return [role for role in order if role in roles] + sorted(roles - set(order))


def _peers_table(result: dict | None) -> list[str]:
    """Scenario 7: each system at the shared rate and at saturation, side by side."""
    systems = ((result or {}).get("figures") or {}).get("systems")
    if not systems:
        return []
    rate = result["figures"].get("peer_rate")
    lines = [
        f"## 7. The product beside its peers (at {rate:g} msg/s and at saturation)",
        "",
        "| system | rate | accepted/s | receipt p50 ms | receipt p99 ms | POST p99 ms | lost | CPU ms per delivery |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for system, kinds in systems.items():
        for kind, f in kinds.items():
            label = f"{rate:g}/s" if kind == "shared" else kind
            lines.append(
                f"| {system} | {label} | {f.get('accepted_per_s')} | {f.get('receipt_p50_ms')} | "
                f"{f.get('receipt_p99_ms')} | {f.get('post_p99_ms')} | {f.get('lost')} | "
                f"{f.get('server_cpu_ms_per_delivery')} |"
            )
    return [
        *lines,
        "",
        "CPU per delivery: every process of the system (PostgreSQL's backends of the bench database",
        "and Redis included, the load generator not) over the measured window, divided by the",
        "messages delivered to sockets.",
        "",
    ]


def main() -> None:
    """Renders docs/performance.md and the charts again from bench/results/bench.json."""
    import json

    root = Path(__file__).resolve().parents[1]
    results = root / "bench" / "results"
    data = json.loads((results / "bench.json").read_text())
    performance_md(
        data["meta"], data["scenarios"], charts(data["scenarios"], results), root / "docs" / "performance.md"
    )


if __name__ == "__main__":
    main()
