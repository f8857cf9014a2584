"""Every 5 minutes, emails still unsent get a new task (notifications.pending_emails_resend)."""

from django.db import migrations

from core.beat import periodic_task_create, periodic_task_delete

TASK_NAME = "Resend pending member-added emails every 5 minutes"


def create_schedule(apps, schema_editor):
    periodic_task_create(
        apps, name=TASK_NAME, task="notifications.pending_emails_resend", every_minutes=5, expire_seconds=240
    )


def delete_schedule(apps, schema_editor):
    periodic_task_delete(apps, name=TASK_NAME)


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
