"""The daily activity report: its crontab schedule, the chain on a real worker, the email
with CSV and chart, the staff-only downloads."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from chats.models import Message
from chats.services import chat_create, message_create
from reports.activity.models import ActivityReport
from reports.activity.services import ALL_CHATS, activity_report_build
from reports.activity.tasks import activity_report_daily


def _yesterday():
    return timezone.now().date() - timedelta(days=1)


@pytest.mark.django_db
def test_the_default_schedule_is_a_daily_crontab():
    call_command("migrate", "reports", "0003", verbosity=0)
    call_command("migrate", "reports", verbosity=0)
    task = PeriodicTask.objects.get(task="reports.activity_report_daily")
    assert task.enabled and str(task.crontab) == "15 0 * * * (m/h/dM/MY/d) UTC"


@pytest.mark.django_db
def test_rows_count_messages_per_chat_and_active_users_per_day(team, make_user):
    other = chat_create(created_by=team.owner, title="Other", member_ids=[team.admin.pk])
    yesterday = timezone.now() - timedelta(days=1)
    for author in (team.owner, team.owner, team.member):
        message_create(chat_id=team.chat.pk, author=author, text="x")
    message_create(chat_id=other.pk, author=team.admin, text="y")
    message_create(chat_id=other.pk, author=team.admin, text="today, not in yesterday's count")
    Message.objects.exclude(text__startswith="today").update(created_at=yesterday)

    report = activity_report_build(day=yesterday.date(), days=3)
    rows = list(csv.DictReader(io.StringIO(report.csv)))
    day = yesterday.date().isoformat()
    on_day = {(r["chat"], r["messages"], r["active_users"]) for r in rows if r["date"] == day}
    assert on_day == {("Team", "3", "2"), ("Other", "1", "1"), (ALL_CHATS, "4", "3")}
    assert [r["date"] for r in rows if r["chat"] == ALL_CHATS] == [
        (yesterday.date() - timedelta(days=n)).isoformat() for n in (2, 1, 0)
    ]
    assert (report.messages, report.active_users) == (4, 3)
    assert bytes(report.png).startswith(b"\x89PNG\r\n")
    assert activity_report_build(day=yesterday.date()).pk == report.pk, "built once per day"


@pytest.mark.django_db(transaction=True)
def test_the_daily_task_emails_staff_once_and_keeps_the_files(worker, broker, mailbox, make_user, client_for, team):
    staff = make_user(is_staff=True)
    message_create(chat_id=team.chat.pk, author=team.member, text="hello")
    Message.objects.update(created_at=timezone.now() - timedelta(days=1))

    activity_report_daily.delay().get(timeout=30)
    mails = mailbox.wait_for(lambda mails: any("activity-report" in m.message_id for m in mails), timeout=60)
    broker.wait_idle()
    [mail] = [m for m in mails if "activity-report" in m.message_id]
    assert mail.rcpt_tos == [staff.email]
    assert mail.subject.startswith(f"Activity {_yesterday():%Y-%m-%d}: 1 messages, 1 active users")
    attachments = {part.get_filename(): part for part in mail.message.iter_attachments()}
    assert set(attachments) == {f"activity-{_yesterday():%Y-%m-%d}.csv", f"activity-{_yesterday():%Y-%m-%d}.png"}

    activity_report_daily.delay().get(timeout=30)  # a second run (beat twice, a redelivery)
    broker.wait_idle()
    assert len([m for m in mailbox.mails if "activity-report" in m.message_id]) == 1
    report = ActivityReport.objects.get()

    listing = client_for(staff).get("/api/reports/activity/")
    assert listing.status_code == 200 and listing.json()[0]["day"] == _yesterday().isoformat()
    download = client_for(staff).get(listing.json()[0]["csv_url"])
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
    assert download.content.decode() == report.csv
    chart = client_for(staff).get(listing.json()[0]["png_url"])
    assert chart["Content-Type"] == "image/png" and chart.content.startswith(b"\x89PNG")
    for path in ("/api/reports/activity/", listing.json()[0]["csv_url"], listing.json()[0]["png_url"]):
        assert client_for(team.member).get(path).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("title", ['=HYPERLINK("http://x","y")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1"])
def test_a_chat_title_that_looks_like_a_formula_is_escaped_in_the_csv(team, title):
    """Formula injection (CWE-1236): a spreadsheet runs a cell starting with = + - @ (or a tab
    or carriage return before one); the cell is prefixed with a quote so it reads as text."""
    chat = chat_create(created_by=team.owner, title=title)
    message_create(chat_id=chat.pk, author=team.owner, text="x")
    Message.objects.update(created_at=timezone.now() - timedelta(days=1))

    report = activity_report_build(day=_yesterday(), days=1)
    [row] = [r for r in csv.DictReader(io.StringIO(report.csv)) if r["chat_id"] == str(chat.pk)]
    assert row["chat"] == "'" + title
    assert row["messages"] == "1"  # numbers stay numbers
