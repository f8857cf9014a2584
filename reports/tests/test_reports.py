"""The periodic user report: its default schedule, the chain on a real worker, the API."""

from datetime import datetime, timedelta

import pytest
from celery.result import AsyncResult
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask, SolarSchedule

from reports.models import UserReport
from reports.services import CSV_HEADER, user_report_count, user_report_write
from reports.tasks import user_report_chain, user_report_start


@pytest.mark.django_db
def test_the_default_schedule_runs_the_report_every_5_minutes():
    # Run the data migration again: a flush by an earlier transactional test empties the table.
    call_command("migrate", "reports", "0001", verbosity=0)
    assert not PeriodicTask.objects.filter(task="reports.user_report_start").exists()
    call_command("migrate", "reports", verbosity=0)
    task = PeriodicTask.objects.get(task="reports.user_report_start")
    assert task.enabled
    assert (task.interval.every, task.interval.period) == (5, IntervalSchedule.MINUTES)


@pytest.mark.django_db
def test_solar_schedules_work():
    """The admin offers solar schedules; they need ephem, which is installed."""
    schedule = SolarSchedule.objects.create(event="sunset", latitude=52.52, longitude=13.40).schedule
    due, next_check = schedule.is_due(timezone.now() - timedelta(days=2))
    assert due and next_check > 0


@pytest.mark.django_db
def test_counting_again_for_the_same_run_returns_the_same_row(make_user):
    make_user()
    first = user_report_count(run_id="same-run")
    assert user_report_count(run_id="same-run").pk == first.pk
    assert UserReport.objects.count() == 1


@pytest.mark.django_db
def test_writing_twice_appends_one_line(make_user, tmp_path, settings):
    settings.USER_REPORT_PATH = tmp_path / "users.csv"
    make_user()
    report = user_report_count(run_id="write-twice")
    user_report_write(report_id=report.pk)
    UserReport.objects.filter(pk=report.pk).update(written_at=None)  # as if killed before the update
    user_report_write(report_id=report.pk)
    assert settings.USER_REPORT_PATH.read_text().splitlines() == [CSV_HEADER, report.csv_line()]


def _report_file(workdir) -> list[str]:
    return (workdir / "reports" / "users.csv").read_text().splitlines()


@pytest.mark.django_db(transaction=True)
def test_the_chain_counts_writes_then_emails_staff(worker, mailbox, make_user, background_workdir):
    staff = make_user(is_staff=True)
    make_user()
    make_user(is_active=False)

    summary = user_report_chain(run_id="chain-1").apply_async().get(timeout=60)
    report = UserReport.objects.get(run_id="chain-1")
    assert (report.total_users, report.active_users, report.joined_since_previous) == (3, 2, 3)
    # In order: the write saw the counted row, the email saw the written line.
    assert report.created_at <= report.written_at <= report.notified_at
    assert summary == {"id": report.pk, "line": report.csv_line(), "notified": True}
    assert _report_file(background_workdir)[0] == CSV_HEADER
    assert _report_file(background_workdir)[-1] == report.csv_line()
    time, *counts = report.csv_line().split(",")
    assert datetime.fromisoformat(time) == report.created_at and counts == ["3", "2", "3"]

    [mail] = mailbox.wait_for(lambda mails: len(mails) >= 1)
    assert mail.rcpt_tos == [staff.email]
    assert report.csv_line() in mail.body()

    make_user()
    make_user()
    user_report_chain(run_id="chain-2").apply_async().get(timeout=60)
    second = UserReport.objects.get(run_id="chain-2")
    assert (second.total_users, second.joined_since_previous, second.previous_at) == (5, 2, report.created_at)
    assert _report_file(background_workdir)[-2:] == [report.csv_line(), second.csv_line()]


@pytest.mark.django_db(transaction=True)
def test_the_scheduled_task_starts_the_chain(worker, mailbox, make_user, background_workdir):
    make_user()
    start = user_report_start.delay()
    last_id = start.get(timeout=30)
    AsyncResult(last_id).get(timeout=60)
    report = UserReport.objects.get(run_id=start.id)
    assert report.written_at is not None
    assert _report_file(background_workdir)[-1] == report.csv_line()


@pytest.mark.django_db
class TestUserReportListApi:
    url = "/api/reports/users/"

    def test_staff_read_the_rows_newest_first(self, make_user, client_for):
        make_user()
        first = user_report_count(run_id="api-1")
        second = user_report_count(run_id="api-2")
        response = client_for(make_user(is_staff=True)).get(self.url)
        assert response.status_code == 200
        assert [row["id"] for row in response.json()] == [second.pk, first.pk]
        assert response.json()[0]["total_users"] == 1

    def test_limit(self, make_user, client_for):
        for i in range(3):
            user_report_count(run_id=f"limit-{i}")
        response = client_for(make_user(is_staff=True)).get(self.url, {"limit": 2})
        assert len(response.json()) == 2
        assert client_for(make_user(is_staff=True)).get(self.url, {"limit": 0}).status_code == 400

    def test_others_are_refused(self, make_user, client_for, api_client):
        assert client_for(make_user()).get(self.url).status_code == 403
        assert api_client.get(self.url).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_only_staff_with_a_verified_address_get_the_report_once(mailbox, make_user, settings):
    from reports.services import user_report_count, user_report_notify_staff

    settings.USER_REPORT_EMAIL_STAFF = True
    verified = make_user(is_staff=True)
    make_user(is_staff=True, email_verified_at=None)  # nothing but the verification email for them
    report = user_report_count(run_id="verified-only")
    user_report_notify_staff(report_id=report.pk)
    user_report_notify_staff(report_id=report.pk)  # a second run (a redelivery) sends nothing
    [mail] = mailbox.wait_for(lambda mails: len(mails) >= 1)
    assert mail.rcpt_tos == [verified.email]
    assert len(mailbox.mails) == 1
