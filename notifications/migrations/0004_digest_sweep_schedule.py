"""Every 15 seconds the digest sweep opens windows for new messages and sends due digests
(notifications.digest_sweep). Editable in the Django admin (Periodic tasks)."""

from django.db import migrations
from django.utils import timezone

TASK_NAME = "Missed-message digest sweep every 15 seconds"


def create_schedule(apps, schema_editor):
    interval, _ = apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
        every=15, period="seconds"
    )
    apps.get_model("django_celery_beat", "PeriodicTask").objects.get_or_create(
        name=TASK_NAME, defaults={"task": "notifications.digest_sweep", "interval": interval, "expire_seconds": 14}
    )
    apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
        ident=1, defaults={"last_update": timezone.now()}
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0003_digestscan_digestsettings_digest"),
        ("reads", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
