"""The benchmark's load generator (bench/loadgen, Go) passes its own tests: receipts matched
across processes, percentiles, and each poster posting from its own address."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

LOADGEN = Path(__file__).resolve().parents[2] / "bench" / "loadgen"


def test_the_load_generator_passes_its_go_tests() -> None:
    go = shutil.which("go")
    if go is None:
        pytest.fail("Go is needed to build bench/loadgen (scripts/setup.sh installs it)")
    env = os.environ | {"GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
    command = [go, "test", "-count=1", "."]
    result = subprocess.run(command, cwd=LOADGEN, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
