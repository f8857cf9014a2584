"""The periodic user report as a chain of short tasks, routed to the `reports` queue by name
(reports.*). celery beat runs `reports.user_report_start` (default: every 5 minutes; see the
migration 0002 and the Django admin's Periodic tasks)."""

import logging

from celery import chain, shared_task
from celery.exceptions import SoftTimeLimitExceeded

from . import services
from .activity.tasks import (  # noqa: F401 (Celery's autodiscovery imports tasks.py)
    activity_report_build,
    activity_report_daily,
    activity_report_email,
)
from .retry import RETRY

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="reports.user_report_start", soft_time_limit=10, time_limit=20, **RETRY)
def user_report_start(self) -> str:
    """Sends the chain and returns the id of its last task. The run is keyed by this task's
    id, so a redelivered start reuses the report already counted."""
    return user_report_chain(run_id=self.request.id).apply_async().id


def user_report_chain(*, run_id: str):
    return chain(
        user_report_count.s(run_id=run_id),
        user_report_write.s(),
        user_report_notify_staff.s(),
    )


@shared_task(bind=True, name="reports.user_report_count", soft_time_limit=20, time_limit=40, **RETRY)
def user_report_count(self, *, run_id: str) -> int:
    try:
        return services.user_report_count(run_id=run_id).pk
    except SoftTimeLimitExceeded:
        # Nothing to clean up: the transaction rolled back, so no row exists yet. Try again.
        logger.warning("user report %s: counting hit its soft time limit, retrying", run_id)
        raise self.retry(countdown=30, max_retries=1) from None


@shared_task(bind=True, name="reports.user_report_write", soft_time_limit=10, time_limit=20, **RETRY)
def user_report_write(self, report_id: int) -> int:
    try:
        return services.user_report_write(report_id=report_id).pk
    except SoftTimeLimitExceeded:
        # The row lock is released by the rollback; record the failure, which stops the chain.
        services.user_report_failed(report_id=report_id, step="write", error="soft time limit")
        raise


@shared_task(bind=True, name="reports.user_report_notify_staff", soft_time_limit=30, time_limit=45, **RETRY)
def user_report_notify_staff(self, report_id: int) -> dict:
    try:
        report = services.user_report_notify_staff(report_id=report_id)
    except SoftTimeLimitExceeded:
        services.user_report_failed(report_id=report_id, step="notify", error="soft time limit")
        raise
    return {"id": report.pk, "line": report.csv_line(), "notified": report.notified_at is not None}
