"""bench.procs' run-queue wait and CPU pressure, as the receipt scenarios read them: two busy
processes sharing one core each wait for it about half the time."""

import os
import subprocess
import sys
import time

from bench import procs

_SPIN = """
import os, time
os.sched_setaffinity(0, {%d})
end = time.monotonic() + 3
while time.monotonic() < end:
    pass
"""


def test_two_busy_processes_on_one_core_wait_for_it():
    core = min(os.sched_getaffinity(0))
    pressure_before = procs.cpu_pressure_seconds()
    spinners = [subprocess.Popen([sys.executable, "-c", _SPIN % core]) for _ in range(2)]
    try:
        pids = [spinner.pid for spinner in spinners]
        started = procs.run_queue_wait_seconds(pids)
        time.sleep(1.5)
        waited = procs.run_queue_wait_seconds(pids) - started
        pressure = procs.cpu_pressure_seconds()
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    # Each ran about half of those 1.5 s and waited the other half (less what the rest of
    # the machine's work takes of the same core).
    assert 0.5 < waited < 3.5
    if pressure_before is not None:  # a kernel without pressure stall information: nothing to read
        assert pressure - pressure_before > 0.5
    assert procs.run_queue_wait_seconds(pids) == 0  # gone: nothing to read
