"""The benchmark's load generator (bench/loadgen, Go) passes its own tests (receipts matched
across processes, percentiles, each poster posting from its own address, a POST sent again
when the server closed its connection) and is formatted as gofmt writes it."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

LOADGEN = Path(__file__).resolve().parents[2] / "bench" / "loadgen"


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        pytest.fail("Go is needed to build bench/loadgen (scripts/setup.sh installs it)")
    return go


def test_the_load_generator_passes_its_go_tests() -> None:
    go = _go()
    env = os.environ | {"GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
    command = [go, "test", "-count=1", "."]
    result = subprocess.run(command, cwd=LOADGEN, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_load_generator_is_formatted_as_gofmt_writes_it() -> None:
    """Go's counterpart of `ruff format --check`: gofmt lists the files it would change."""
    goroot = Path(subprocess.run([_go(), "env", "GOROOT"], capture_output=True, text=True, check=True).stdout.strip())
    result = subprocess.run(
        [goroot / "bin" / "gofmt", "-l", "."], cwd=LOADGEN, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr
