"""Celery tasks of the missed-message digest (imported by notifications/tasks.py; routed to the bulk
queue by name, notifications.digest_*)."""

import logging

from celery import shared_task

from ..retry import EMAIL_TASK, TRANSIENT_ERRORS, ClaimBusy, retry_after
from . import services as digest_services

logger = logging.getLogger(__name__)


@shared_task(name="notifications.digest_sweep", soft_time_limit=50, time_limit=80, acks_late=True)
def digest_sweep() -> dict:
    """Periodic (beat): opens windows for new messages, dispatches the due ones."""
    return digest_services.digest_sweep()


@shared_task(name="notifications.digest_send", **EMAIL_TASK)
def digest_send(self, *, digest_id: int) -> str:
    try:
        return digest_services.digest_send(digest_id=digest_id)
    except ClaimBusy as exc:
        raise self.retry(exc=exc, countdown=retry_after(self, exc)) from exc
    except TRANSIENT_ERRORS as exc:
        digest_services.digest_failed(digest_id=digest_id, error=repr(exc))
        countdown = retry_after(self, exc)
        logger.warning("digest %s failed (%r), retry in %.1fs", digest_id, exc, countdown)
        raise self.retry(exc=exc, countdown=countdown) from exc
