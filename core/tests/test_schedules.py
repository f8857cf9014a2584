"""The periodic work that the data migrations schedule, and that it runs on a real worker."""

import importlib
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from chats.services import message_create
from realtime.models import Event
from realtime.tasks import event_log_prune


@pytest.mark.django_db
@pytest.mark.parametrize(
    "app, migration, task, schedule",
    [
        ("notifications", "0002_resend_pending_schedule", "notifications.pending_emails_resend", "every 5 minutes"),
        ("realtime", "0004_event_log_prune_schedule", "realtime.event_log_prune", "30 3 * * * (m/h/dM/MY/d) UTC"),
        ("accounts", "0006_revocations_publish_schedule", "accounts.token_revocations_publish", "every 10 seconds"),
    ],
)
def test_default_schedule_exists(app, migration, task, schedule):
    # The data migration undone and run again, with the models of its own time (a flush by
    # an earlier transactional test empties the table; rewinding the app's schema instead
    # would run later migrations' concurrent index operations inside this test's transaction).
    module = importlib.import_module(f"{app}.migrations.{migration}")
    historical = MigrationLoader(connection).project_state((app, migration)).apps
    module.delete_schedule(historical, None)
    assert not PeriodicTask.objects.filter(task=task).exists()
    module.create_schedule(historical, None)
    periodic = PeriodicTask.objects.get(task=task)
    assert periodic.enabled
    assert str(periodic.interval or periodic.crontab) == schedule


@pytest.mark.django_db(transaction=True)
def test_event_log_prune_runs_on_the_worker(worker, team):
    message_create(chat_id=team.chat.pk, author=team.member, text="old")
    Event.objects.update(created_at=timezone.now() - timedelta(days=365))
    message_create(chat_id=team.chat.pk, author=team.member, text="new")

    deleted = event_log_prune.delay().get(timeout=30)

    assert deleted >= 1
    assert list(Event.objects.values_list("type", flat=True)) == ["message.created"]
