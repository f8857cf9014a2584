"""The project's default periodic tasks are created by data migrations through these two
functions; afterwards they are edited in the Django admin (Periodic tasks)."""

from typing import Any

from django.utils import timezone


def periodic_task_create(
    apps,
    *,
    name: str,
    task: str,
    every_minutes: int | None = None,
    every_seconds: int | None = None,
    crontab: dict[str, str] | None = None,
    **fields: Any,
) -> None:
    """Creates the periodic task `name` unless it exists, on an interval or a crontab schedule."""
    schedule: dict[str, Any]
    if every_minutes is not None or every_seconds is not None:
        every, period = (every_minutes, "minutes") if every_minutes is not None else (every_seconds, "seconds")
        interval, _ = apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
            every=every, period=period
        )
        schedule = {"interval": interval}
    else:
        cron, _ = apps.get_model("django_celery_beat", "CrontabSchedule").objects.get_or_create(**crontab)
        schedule = {"crontab": cron}
    apps.get_model("django_celery_beat", "PeriodicTask").objects.get_or_create(
        name=name, defaults={"task": task, **schedule, **fields}
    )
    # Tells a running beat (DatabaseScheduler) to reload its schedule.
    apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
        ident=1, defaults={"last_update": timezone.now()}
    )


def periodic_task_delete(apps, *, name: str) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=name).delete()
