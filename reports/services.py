"""The periodic user report: count → write → notify staff, each step one short task
(reports/tasks.py) and each idempotent, so a step that runs twice changes nothing."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import User

from .models import UserReport

CSV_HEADER = "time,total_users,active_users,joined_since_previous"
# Reports take turns (pg_advisory_xact_lock key), so "the previous report" is well defined.
_COUNT_LOCK = 0x5E_0001


def user_report_count(*, run_id: str) -> UserReport:
    """Counts the users and stores the row; the same `run_id` returns the row already stored."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("select pg_advisory_xact_lock(%s)", [_COUNT_LOCK])
        existing = UserReport.objects.filter(run_id=run_id).first()
        if existing is not None:
            return existing
        previous = UserReport.objects.order_by("-created_at", "-id").first()
        now = timezone.now()
        since = Q(date_joined__gt=previous.created_at) if previous else Q()
        counts = User.objects.filter(date_joined__lte=now).aggregate(
            total=Count("id"), active=Count("id", filter=Q(is_active=True)), joined=Count("id", filter=since)
        )
        return UserReport.objects.create(
            run_id=run_id,
            created_at=now,
            total_users=counts["total"],
            active_users=counts["active"],
            joined_since_previous=counts["joined"],
            previous_at=previous.created_at if previous else None,
        )


def _last_line(path: Path) -> str:
    with path.open("rb") as file:
        file.seek(0, os.SEEK_END)
        file.seek(max(0, file.tell() - 4096))
        lines = file.read().decode().splitlines()
    return lines[-1] if lines else ""


def user_report_write(*, report_id: int) -> UserReport:
    """Appends the report's line to settings.USER_REPORT_PATH once (with a header in a new
    file). A run killed between the append and the row update finds its line at the end of
    the file and does not append it again."""
    with transaction.atomic():
        report = UserReport.objects.select_for_update().get(pk=report_id)
        if report.written_at is not None:
            return report
        path = Path(settings.USER_REPORT_PATH)
        path.parent.mkdir(parents=True, exist_ok=True)
        line = report.csv_line()
        fresh = not path.exists() or path.stat().st_size == 0
        if fresh or _last_line(path) != line:
            with path.open("a", encoding="utf-8") as file:
                file.write((CSV_HEADER + "\n" if fresh else "") + line + "\n")
                file.flush()
                os.fsync(file.fileno())
        report.written_at = timezone.now()
        report.save(update_fields=["written_at"])
        return report


@contextmanager
def send_lock(kind: int, key: int) -> Iterator[None]:
    """Runs of one send take turns under a session advisory lock, with no transaction open:
    the SMTP conversation holds no transaction id (the feed reads below the oldest running
    one), and a worker that dies releases the lock with its connection."""
    with connection.cursor() as cursor:
        cursor.execute("select pg_advisory_lock(%s, %s)", [kind, key])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("select pg_advisory_unlock(%s, %s)", [kind, key])


# send_lock's first key for each report's email.
USER_REPORT_SEND = 0x5E_0002
ACTIVITY_REPORT_SEND = 0x5E_0003


def staff_emails() -> list[str]:
    """Active staff with a verified address (nothing but the verification goes to another)."""
    staff = User.objects.filter(is_staff=True, is_active=True, email_verified_at__isnull=False).exclude(email="")
    return list(staff.order_by("id").values_list("email", flat=True))


def user_report_notify_staff(*, report_id: int) -> UserReport:
    """Emails the report to active staff when settings.USER_REPORT_EMAIL_STAFF asks, once
    (marked after the send, under send_lock: no transaction is open during SMTP)."""
    with send_lock(USER_REPORT_SEND, report_id):
        report = UserReport.objects.get(pk=report_id)
        if not settings.USER_REPORT_EMAIL_STAFF or report.notified_at is not None:
            return report
        staff = staff_emails()
        if staff:
            domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"
            EmailMessage(
                subject=f"User report {report.created_at:%Y-%m-%d %H:%M} UTC: {report.total_users} users",
                body=(
                    f"Users: {report.total_users}\nActive: {report.active_users}\n"
                    f"Joined since the previous report: {report.joined_since_previous}\n\n"
                    f"Line written to the report file:\n{CSV_HEADER}\n{report.csv_line()}\n"
                ),
                to=staff,
                headers={"Message-ID": f"<user-report.{report.pk}@{domain}>"},
            ).send()
        report.notified_at = timezone.now()
        UserReport.objects.filter(pk=report.pk).update(notified_at=report.notified_at)
        return report


def user_report_failed(*, report_id: int, step: str, error: str) -> None:
    """Records why a step gave up, for the admin and the API."""
    UserReport.objects.filter(pk=report_id).update(error=f"{step}: {error}"[:1000])
