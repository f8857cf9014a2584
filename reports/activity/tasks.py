"""The daily activity report on celery beat (crontab; see migration 0004): build, then email
staff, each a short idempotent task on the reports queue."""

from datetime import date, timedelta

from celery import chain, shared_task
from django.utils import timezone

from ..retry import RETRY
from . import services as activity_services


@shared_task(name="reports.activity_report_daily", soft_time_limit=10, time_limit=20, **RETRY)
def activity_report_daily(day: str | None = None) -> str:
    """Starts yesterday's report (or `day`'s, ISO date); returns the chain's last task id."""
    the_day = date.fromisoformat(day) if day else timezone.now().date() - timedelta(days=1)
    return chain(activity_report_build.s(day=the_day.isoformat()), activity_report_email.s()).apply_async().id


@shared_task(name="reports.activity_report_build", soft_time_limit=60, time_limit=90, **RETRY)
def activity_report_build(*, day: str) -> int:
    return activity_services.activity_report_build(day=date.fromisoformat(day)).pk


@shared_task(name="reports.activity_report_email", soft_time_limit=30, time_limit=45, **RETRY)
def activity_report_email(report_id: int) -> dict:
    report = activity_services.activity_report_email_staff(report_id=report_id)
    return {"id": report.pk, "day": report.day.isoformat(), "emailed": report.emailed_at is not None}
