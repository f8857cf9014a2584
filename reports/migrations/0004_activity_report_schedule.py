"""The daily activity report at 00:15 UTC (crontab; editable in the Django admin)."""

from django.db import migrations

from core.beat import periodic_task_create, periodic_task_delete

TASK_NAME = "Activity report daily at 00:15 UTC"


def create_schedule(apps, schema_editor):
    periodic_task_create(
        apps,
        name=TASK_NAME,
        task="reports.activity_report_daily",
        crontab={"minute": "15", "hour": "0", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*",
                 "timezone": "UTC"},
        description="Messages per chat and active users per day (CSV + PNG chart), emailed to staff.",
    )


def delete_schedule(apps, schema_editor):
    periodic_task_delete(apps, name=TASK_NAME)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0003_activityreport"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
