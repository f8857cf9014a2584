"""Celery tasks of notifications; routed to the `email` queue by name (notifications.*)."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from . import services
from .digest.tasks import digest_send, digest_sweep  # noqa: F401 (Celery's autodiscovery imports tasks.py)
from .retry import EMAIL_TASK, TRANSIENT_ERRORS, ClaimBusy, retry_after

logger = logging.getLogger(__name__)


@shared_task(name="notifications.member_added_email_send", **EMAIL_TASK)
def member_added_email_send(self, *, membership_id: int, recipient_id: int) -> bool:
    try:
        return services.member_added_email_send(membership_id=membership_id, recipient_id=recipient_id)
    except ClaimBusy as exc:
        # Another run is sending it (or died doing so): look again when its claim may expire.
        raise self.retry(exc=exc, countdown=retry_after(self, exc)) from exc
    except TRANSIENT_ERRORS as exc:
        # Clean-up already happened on the way out: the claim was released (the row is
        # unsent) and Django's backend closed the SMTP connection.
        last_try = self.request.retries >= self.max_retries
        services.member_added_email_failed(
            membership_id=membership_id, recipient_id=recipient_id, error=repr(exc), last_try=last_try
        )
        if last_try:
            logger.error("member-added email %s→%s: retries ran out (%r)", membership_id, recipient_id, exc)
            raise
        countdown = retry_after(self, exc)
        logger.warning(
            "member-added email %s→%s failed (%r), retry in %.1fs", membership_id, recipient_id, exc, countdown
        )
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(name="notifications.member_added_summary_send", **EMAIL_TASK)
def member_added_summary_send(self, *, summary_id: int) -> bool:
    """The summary of the member-added emails past a recipient's hourly limit (idempotent)."""
    try:
        return services.member_added_summary_send(summary_id=summary_id)
    except (ClaimBusy, *TRANSIENT_ERRORS) as exc:
        raise self.retry(exc=exc, countdown=retry_after(self, exc)) from exc


@shared_task(
    bind=True,
    name="notifications.verification_email_send",
    soft_time_limit=settings.NOTIFICATIONS_EMAIL_SOFT_TIME_LIMIT,
    time_limit=settings.NOTIFICATIONS_EMAIL_SOFT_TIME_LIMIT + 15,
    max_retries=settings.NOTIFICATIONS_MAX_RETRIES,
)
def verification_email_send(self, *, user_id: int) -> bool:
    """The verification email (no record: a second one is harmless, and its link is the same)."""
    from .verification import verification_email_send as send

    try:
        return send(user_id=user_id)
    except TRANSIENT_ERRORS as exc:
        from .retry import smtp_permanent

        if smtp_permanent(exc):
            logger.error("verification email to user %s refused for good: %r", user_id, exc)
            return False
        raise self.retry(exc=exc, countdown=retry_after(self, exc)) from exc


@shared_task(name="notifications.pending_emails_resend", soft_time_limit=60, time_limit=90)
def pending_emails_resend() -> int:
    """Periodic (beat, every 5 minutes): gives every email still unsent a new task."""
    return services.pending_emails_resend(
        older_than=timedelta(seconds=settings.NOTIFICATIONS_RESEND_PENDING_AFTER_SECONDS),
        exhausted_older_than=timedelta(seconds=settings.NOTIFICATIONS_RESEND_EXHAUSTED_AFTER_SECONDS),
    )
