"""A real celery beat for the digest tests: the DatabaseScheduler on the test database, with
the digest sweep every second (a window of N minutes passes in N seconds in the tests)."""

import subprocess
from collections.abc import Iterator

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from testing.background import CELERY, ROOT, background_env
from testing.processes import process_stop, wait_until


@pytest.fixture
def digest_beat(worker, smtp_server, background_workdir, transactional_db) -> Iterator[subprocess.Popen]:
    """celery beat sending `notifications.digest_sweep` every second to the test's worker.
    Depends on `worker`, so it stops before the worker drains the queues."""
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    # A flush by an earlier transactional test removed the migration's rows: only ours runs.
    PeriodicTask.objects.all().delete()
    PeriodicTask.objects.create(name="digest sweep (test)", task="notifications.digest_sweep", interval=every_second)
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})
    log_path = background_workdir / "beat.log"
    offset = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [CELERY, "-A", "messenger", "beat", "-S", "django_celery_beat.schedulers:DatabaseScheduler",
             "--pidfile=", "-l", "INFO", "--max-interval", "1"],
            cwd=ROOT, env=background_env(smtp_port=smtp_server.port, workdir=background_workdir),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def sending() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(log_path.read_text()[offset:][-3000:])
        return b"notifications.digest_sweep" in log_path.read_bytes()[offset:]

    wait_until(sending, timeout=60, what="celery beat to send the digest sweep", interval=0.2)
    yield proc
    process_stop(proc)
