"""The default schedule of the user report: every 5 minutes (editable in the Django admin,
Periodic tasks, where interval, crontab, solar and clocked schedules can replace it)."""

from django.db import migrations

from core.beat import periodic_task_create, periodic_task_delete

TASK_NAME = "User report every 5 minutes"


def create_schedule(apps, schema_editor):
    periodic_task_create(
        apps,
        name=TASK_NAME,
        task="reports.user_report_start",
        every_minutes=5,
        # A report that could not start within its period is dropped, not queued up
        # behind a stopped worker: the next one counts the same users.
        expire_seconds=240,
        description="Counts the users, appends a line to the report file, emails staff if asked.",
    )


def delete_schedule(apps, schema_editor):
    periodic_task_delete(apps, name=TASK_NAME)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
