"""Celery tasks of realtime; on the `default` queue."""

from celery import shared_task

from . import services


@shared_task(name="realtime.event_log_prune", soft_time_limit=300, time_limit=360)
def event_log_prune() -> int:
    """Periodic (beat, daily): deletes events older than REALTIME_EVENT_RETENTION_DAYS.

    Safe to run twice: a second run finds nothing old enough left.
    """
    return services.event_log_prune()
