"""Every 10 seconds, the revocations that Redis missed when they were made are published
again (accounts.token_revocations_publish). Editable in the Django admin (Periodic tasks)."""

from django.db import migrations

from core.beat import periodic_task_create, periodic_task_delete

TASK_NAME = "Publish missed API token revocations every 10 seconds"


def create_schedule(apps, schema_editor):
    periodic_task_create(
        apps, name=TASK_NAME, task="accounts.token_revocations_publish", every_seconds=10, expire_seconds=9
    )


def delete_schedule(apps, schema_editor):
    periodic_task_delete(apps, name=TASK_NAME)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_token_revocation"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
