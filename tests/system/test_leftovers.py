"""What a killed test run leaves running (testing.background.leftovers_ended)."""

import os
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

from testing.background import leftovers_ended
from testing.processes import wait_until

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def _ended(pid: int) -> bool:
    """Gone, or a zombie that nobody has reaped yet (it was reparented)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"


def test_a_killed_runs_processes_are_ended_and_no_others():
    """A process group in a session of its own with the run's key prefix, as a worker of a
    pytest that was killed (its parent gone): ended, children too. One with another prefix,
    and one this process started itself, are left alone."""
    prefix = f"leftover-{uuid.uuid4().hex[:8]}:"
    # The leftover: a shell in a session of its own whose parent exits at once, as a killed
    # pytest's worker is reparented; its child sleeps in the same group.
    leftover = subprocess.run(
        ["setsid", "sh", "-c", f"{shlex.join(SLEEPER)} >/dev/null 2>&1 & echo $!"],
        env=os.environ | {"CELERY_KEY_PREFIX": prefix},
        capture_output=True,
        text=True,
        check=True,
    )
    orphan = int(leftover.stdout.split()[-1])
    other = subprocess.Popen(SLEEPER, env=os.environ | {"CELERY_KEY_PREFIX": f"{prefix}x"}, start_new_session=True)
    own = subprocess.Popen(SLEEPER, env=os.environ | {"CELERY_KEY_PREFIX": prefix}, start_new_session=True)
    try:
        assert leftovers_ended(prefix) == [os.getpgid(orphan)]
        wait_until(lambda: _ended(orphan), timeout=5, what="the leftover to end")
        assert other.poll() is None and own.poll() is None
        assert leftovers_ended("") == []
    finally:
        for process in (other, own):
            process.kill()
            process.wait()
