"""The default schedule of the user report: every 5 minutes (editable in the Django admin,
Periodic tasks, where interval, crontab, solar and clocked schedules can replace it)."""

from django.db import migrations
from django.utils import timezone

TASK_NAME = "User report every 5 minutes"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    every_5_minutes, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": "reports.user_report_start",
            "interval": every_5_minutes,
            # A report that could not start within its period is dropped, not queued up
            # behind a stopped worker: the next one counts the same users.
            "expire_seconds": 240,
            "description": "Counts the users, appends a line to the report file, emails staff if asked.",
        },
    )
    # Tell a running beat (DatabaseScheduler) to reload its schedule.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
