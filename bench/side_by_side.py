"""`make bench`'s scenarios on two trees in turn: a worktree of `--base` and this tree,
alternating `--pairs` times, each run a fresh stack (`python -m bench --scenarios ... --repeat 1`
in that tree). This host's speed moves by a quarter within minutes, so a change is judged only
against its base measured in the same minutes; one run of each proves nothing.

    python -m bench side-by-side --base HEAD --scenarios 1,2 --pairs 3 [suite options]

Prints each run's figures as they come and, per scenario, the numeric figures of both trees
(every run, then the median); writes bench/results/side_by_side.json.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.measure import ROOT, STATE_DIR, log, results_write, worktree

_WROTE = re.compile(r"wrote (\S+/bench\.json)")


def _run(tree: Path, scenarios: str, extra: list[str], log_path: Path) -> dict:
    """One suite run in `tree`, its processes against this checkout's services (STATE_DIR)."""
    command = [sys.executable, "-m", "bench", "--scenarios", scenarios, "--repeat", "1", *extra]
    env = os.environ | {"MESSENGER_STATE_DIR": str(STATE_DIR)}
    with log_path.open("w") as out:
        subprocess.run(command, cwd=tree, env=env, stdout=out, stderr=out, check=False)
    found = _WROTE.findall(log_path.read_text())
    if not found:
        raise RuntimeError(f"the run in {tree} wrote no results; its output: {log_path}")
    return json.loads(Path(found[-1]).read_text())["scenarios"]


def _numbers(run: dict, number: str) -> dict[str, float]:
    """Scenario `number`'s numeric figures in one run."""
    figures = run.get(number, {}).get("figures", {})
    return {
        key: value for key, value in figures.items() if isinstance(value, int | float) and not isinstance(value, bool)
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench side-by-side", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, metavar="REF", help="the commit to compare this tree with")
    parser.add_argument("--scenarios", default="1", help="as the suite's, e.g. 1,2")
    parser.add_argument("--pairs", type=int, default=3, help="runs of each tree, alternating")
    args, extra = parser.parse_known_args(argv)

    runs: dict[str, list[dict]] = {"base": [], "this": []}
    with worktree(args.base) as base, tempfile.TemporaryDirectory(prefix="side-by-side-") as logs:
        trees = {"base": base, "this": ROOT}
        for pair in range(args.pairs):
            for label, tree in trees.items():
                log(f"pair {pair + 1}/{args.pairs}: {label} ({args.base if label == 'base' else 'this tree'})")
                scenarios = _run(tree, args.scenarios, extra, Path(logs) / f"{label}-{pair}.log")
                runs[label].append(scenarios)
                for number, result in sorted(scenarios.items()):
                    log(f"  {number}. {result.get('measured')}")

    table = {}
    for number in sorted({n for run in runs["this"] for n in run}):
        names = dict.fromkeys(name for run in runs["base"] + runs["this"] for name in _numbers(run, number))
        table[number] = {
            name: {label: [_numbers(run, number).get(name) for run in runs[label]] for label in runs} for name in names
        }
        print(f"\nscenario {number}: base ({args.base}) | this tree, each run, then the medians")
        for name, values in table[number].items():
            cells = {label: [v for v in values[label] if v is not None] for label in values}
            medians = {label: statistics.median(v) if v else None for label, v in cells.items()}
            print(f"  {name:32} {cells['base']} | {cells['this']}   {medians['base']} | {medians['this']}")
    results_write(
        "side_by_side",
        {
            "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "base": args.base,
            "scenarios": args.scenarios,
            "pairs": args.pairs,
            "options": extra,
            "figures": table,
        },
    )


if __name__ == "__main__":
    main()
