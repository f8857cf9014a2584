"""docs/performance.md as bench.report renders it from a run's results."""

from bench import report

META = {
    "command": "python -m bench",
    "date": "2026-12-08 07:00 UTC",
    "cpus": 2,
    "elapsed_s": 500,
    "quick": False,
    "channels": "chat",
    "load_average": [1.0, 2.0, 3.0],
    "git": "abc1234",
}


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
