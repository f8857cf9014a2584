"""Tasks that exist only for the tests of time limits; the test worker imports this module
(`celery worker -I testing.celery_tasks`). Routed to the default queue."""

import os
import time
from pathlib import Path

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded


@shared_task(name="tests.soft_limit_cleanup", soft_time_limit=1, time_limit=10)
def soft_limit_cleanup(*, marker: str) -> str:
    """Runs past its soft limit; the clean-up leaves a marker file."""
    try:
        time.sleep(20)
    except SoftTimeLimitExceeded:
        Path(marker).write_text(f"cleaned up in {os.getpid()}")
        return "cleaned up"
    return "finished"


@shared_task(name="tests.hard_limit", soft_time_limit=1, time_limit=2, reject_on_worker_lost=False)
def hard_limit() -> str:
    """Ignores its soft limit and runs into the hard one, which kills its process."""
    try:
        time.sleep(20)
    except SoftTimeLimitExceeded:
        time.sleep(20)
    return "finished"


@shared_task(name="tests.pid")
def pid() -> int:
    return os.getpid()
