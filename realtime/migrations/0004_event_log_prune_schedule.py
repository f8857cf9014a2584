"""The event log is pruned every day at 03:30 UTC (a crontab schedule, editable in the admin)."""

from django.db import migrations

from core.beat import periodic_task_create, periodic_task_delete

TASK_NAME = "Prune the event log daily"
AT_0330_UTC = {"minute": "30", "hour": "3", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*", "timezone": "UTC"}


def create_schedule(apps, schema_editor):
    periodic_task_create(apps, name=TASK_NAME, task="realtime.event_log_prune", crontab=AT_0330_UTC)


def delete_schedule(apps, schema_editor):
    periodic_task_delete(apps, name=TASK_NAME)


class Migration(migrations.Migration):
    dependencies = [
        ("realtime", "0003_event_log_prune"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
