"""bench.host_speed: the host's speed, taken at the start and end of each `make bench` run
and named in docs/performance.md's first lines, so that runs hours apart can be compared."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench import host_speed, report

ROOT = Path(__file__).resolve().parents[2]
META = {
    "command": "python -m bench",
    "date": "2026-12-08 03:00 UTC",
    "cpus": 2,
    "elapsed_s": 500,
    "quick": False,
    "channels": "chat",
    "load_average": [1.0, 2.0, 3.0],
    "git": "abc1234",
}


def _run_line(meta: dict, tmp_path: Path) -> str:
    path = tmp_path / "performance.md"
    report.performance_md(meta, {}, [], path)
    return next(line for line in path.read_text().splitlines() if line.startswith("Run: "))


def test_the_report_names_the_hosts_speed_at_the_runs_start_and_end(tmp_path):
    line = _run_line(META | {"host_reference_ms": [71.5, 98.25]}, tmp_path)
    assert "took 71.5 ms of CPU at the start and 98.25 at the end" in line


def test_a_run_from_before_the_probe_is_rendered_without_it(tmp_path):
    line = _run_line(META, tmp_path)
    assert "reference work" not in line
    assert line.endswith("Centrifugo channels: `chat`.")


def test_each_scenarios_window_says_how_fast_the_host_was_as_it_began(tmp_path):
    window = {"cores": {"web": 1.1}, "machine_busy_cores": 1.85, "load_average_1m": 4.65}
    results = {"1": {"name": "Throughput", "window": window, "host_reference_ms": 77.25}}
    path = tmp_path / "performance.md"
    report.performance_md(META, results, [], path)
    header, _, row = path.read_text().split("## CPU over each measured window (cores busy)")[1].strip().splitlines()[:3]
    assert header.endswith("| machine | load | host ms |")
    assert row == "| 1 | 1.10 | 1.85 | 4.65 | 77.25 |"


def test_a_scenario_measured_at_two_rates_has_a_cpu_row_for_each(tmp_path):
    at_200 = {"cores": {"web": 0.4}, "machine_busy_cores": 1.2, "load_average_1m": 4.5}
    at_500 = {"cores": {"web": 0.9, "redis": 0.1}, "machine_busy_cores": 1.95, "load_average_1m": 9.3}
    results = {
        "2": {
            "name": "Latency",
            "window": at_200,
            "windows": {"2": at_200, "2 at 500/s": at_500},
            "host_reference_ms": 75.0,
        }
    }
    path = tmp_path / "performance.md"
    report.performance_md(META, results, [], path)
    table = path.read_text().split("## CPU over each measured window (cores busy)")[1].strip().splitlines()
    assert table[0] == "| # | web | redis | machine | load | host ms |"
    assert table[2:4] == ["| 2 | 0.40 | 0.00 | 1.2 | 4.5 | 75.0 |", "| 2 at 500/s | 0.90 | 0.10 | 1.95 | 9.3 | 75.0 |"]


def test_the_reference_work_is_the_same_work_every_time():
    """The figure compares hours only if every round does exactly the same work."""
    assert host_speed._work() == host_speed._work() > 0


def test_the_command_prints_one_sample_a_line():
    output = subprocess.run(
        [sys.executable, "-m", "bench", "host-speed", "--count", "2", "--every", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    samples = [json.loads(line) for line in output.stdout.splitlines()]
    assert len(samples) == 2
    assert all(sample["reference_ms"] > 0 for sample in samples)


_STILL_WATCHED = """
import json, time
from bench.host_speed import StillWatch
watch = StillWatch(threshold=0.5).start()
print("watching", flush=True)
time.sleep(3)
watch.stop()
print(json.dumps(watch.stills), flush=True)
"""


def test_a_process_stopped_for_a_while_notices_that_it_stood_still():
    """What a pause of the whole VM looks like from inside: every thread wakes late at once.
    SIGSTOP and SIGCONT do that to one process."""
    watched = subprocess.Popen([sys.executable, "-c", _STILL_WATCHED], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert watched.stdout.readline().strip() == "watching"
        watched.send_signal(signal.SIGSTOP)
        time.sleep(1.2)
        watched.send_signal(signal.SIGCONT)
        stills = json.loads(watched.stdout.readline())
    finally:
        watched.kill()
        watched.wait()
    assert len(stills) == 1 and stills[0][1] >= 0.5, stills


def test_the_report_says_when_the_machine_stood_still_during_a_scenario(tmp_path):
    results = {"2": {"name": "Latency", "limits": "machine 1.2 of 2 cores busy", "machine_stood_still_s": [14.02]}}
    path = tmp_path / "performance.md"
    report.performance_md(META, results, [], path)
    assert "The whole machine stood still 1 time(s) during it, the longest 14.02 s" in path.read_text()
