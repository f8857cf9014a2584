"""The daily activity report: messages per chat and active users (users who wrote) per day,
as a CSV and a PNG chart, stored for staff and emailed to them once.

Two short idempotent steps (reports/activity/tasks.py): build the day's report (a second
build of the same day returns the stored one), then email it (once, under a row lock).
"""

import csv
import io
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from ..services import ACTIVITY_REPORT_SEND, send_lock, staff_emails
from .models import ActivityReport

CSV_HEADER = ["date", "chat_id", "chat", "messages", "active_users"]
ALL_CHATS = "(all chats)"

_PER_CHAT_SQL = """
select (m.created_at at time zone 'UTC')::date as day, m.chat_id,
       coalesce(nullif(c.title, ''), c.kind || ' chat #' || c.id), count(*), count(distinct m.author_id)
from chats_message m join chats_chat c on c.id = m.chat_id
where m.created_at >= %(start)s and m.created_at < %(end)s
group by 1, 2, 3
order by 1, 4 desc, 2
"""
_PER_DAY_SQL = """
select (created_at at time zone 'UTC')::date as day, count(*), count(distinct author_id)
from chats_message
where created_at >= %(start)s and created_at < %(end)s
group by 1
"""


def _bounds(day: date, days: int) -> tuple[datetime, datetime, list[date]]:
    first = day - timedelta(days=days - 1)
    start = timezone.make_aware(datetime.combine(first, time.min), timezone.get_fixed_timezone(0))
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min), timezone.get_fixed_timezone(0))
    return start, end, [first + timedelta(days=n) for n in range(days)]


def activity_rows(*, day: date, days: int) -> tuple[list[list], dict[date, tuple[int, int]]]:
    """The CSV rows (per chat per day, then a total row per day) and the totals per day."""
    start, end, all_days = _bounds(day, days)
    with connection.cursor() as cursor:
        cursor.execute(_PER_CHAT_SQL, {"start": start, "end": end})
        per_chat = cursor.fetchall()
        cursor.execute(_PER_DAY_SQL, {"start": start, "end": end})
        totals = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
    totals = {d: totals.get(d, (0, 0)) for d in all_days}
    rows: list[list] = []
    for d in all_days:
        rows += [[d.isoformat(), chat_id, title, n, active] for (rd, chat_id, title, n, active) in per_chat if rd == d]
        rows.append([d.isoformat(), "", ALL_CHATS, *totals[d]])
    return rows, totals


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, prefixed with a quote so it reads
    as text; numbers are left as they are (their minus sign is no formula)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv(rows: list[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)
    return out.getvalue()


def _png(*, totals: dict[date, tuple[int, int]], day: date) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no display on a worker
    from matplotlib.figure import Figure

    days = sorted(totals)
    labels = [d.strftime("%m-%d") for d in days]
    figure = Figure(figsize=(8, 4), dpi=100)
    axes = figure.subplots()
    axes.bar(labels, [totals[d][0] for d in days], color="#4c78a8", label="messages")
    axes.set_ylabel("messages")
    axes.tick_params(axis="x", labelrotation=45)
    users = axes.twinx()
    users.plot(labels, [totals[d][1] for d in days], color="#e45756", marker="o", label="active users")
    users.set_ylabel("active users")
    users.set_ylim(bottom=0)
    axes.set_title(f"Messenger activity, {days[0]:%Y-%m-%d} to {day:%Y-%m-%d} (UTC)")
    figure.legend(loc="upper left")
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def activity_report_build(*, day: date, days: int = 14) -> ActivityReport:
    """The report for the `days` days ending `day`; built once per day."""
    existing = ActivityReport.objects.filter(day=day).first()
    if existing is not None:
        return existing
    rows, totals = activity_rows(day=day, days=days)
    report = ActivityReport(
        day=day,
        days=days,
        csv=_csv(rows),
        png=_png(totals=totals, day=day),
        messages=totals[day][0],
        active_users=totals[day][1],
    )
    try:
        with transaction.atomic():
            report.save()
    except IntegrityError:  # a concurrent build of the same day won
        return ActivityReport.objects.get(day=day)
    return report


def activity_report_email_staff(*, report_id: int) -> ActivityReport:
    """Emails the report (CSV and chart attached) to active staff, once (marked after the
    send, under send_lock: no transaction is open during SMTP)."""
    with send_lock(ACTIVITY_REPORT_SEND, report_id):
        report = ActivityReport.objects.get(pk=report_id)
        if report.emailed_at is not None:
            return report
        staff = staff_emails()
        if staff:
            domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"
            email = EmailMessage(
                subject=(
                    f"Activity {report.day:%Y-%m-%d}: {report.messages} messages, {report.active_users} active users"
                ),
                body=(
                    f"Messages on {report.day:%Y-%m-%d} (UTC): {report.messages}\n"
                    f"Users who wrote that day: {report.active_users}\n\n"
                    f"Attached: messages per chat and active users per day over {report.days} days (CSV)"
                    " and a chart.\n"
                    f"Also at {settings.SITE_URL}/api/reports/activity/{report.pk}/activity.csv (staff).\n"
                ),
                to=staff,
                headers={"Message-ID": f"<activity-report.{report.pk}@{domain}>"},
            )
            email.attach(f"activity-{report.day:%Y-%m-%d}.csv", report.csv, "text/csv")
            email.attach(f"activity-{report.day:%Y-%m-%d}.png", bytes(report.png), "image/png")
            email.send()
        report.emailed_at = timezone.now()
        ActivityReport.objects.filter(pk=report.pk).update(emailed_at=report.emailed_at)
        return report
