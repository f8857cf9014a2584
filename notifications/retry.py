"""The retry policy of the email tasks (member added, summary, digest, verification)."""

import random
import smtplib

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

# The options every email task shares. Each is idempotent (a claimed row, checked before
# sending), so late acks may run it again; EMAIL_TIMEOUT bounds each SMTP step and the time
# limits bound one whole conversation.
EMAIL_TASK = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "soft_time_limit": settings.NOTIFICATIONS_EMAIL_SOFT_TIME_LIMIT,
    "time_limit": settings.NOTIFICATIONS_EMAIL_SOFT_TIME_LIMIT + 15,
    "max_retries": settings.NOTIFICATIONS_MAX_RETRIES,
}

# Worth a retry: the SMTP server refused or dropped us, was unreachable or too slow.
TRANSIENT_ERRORS = (smtplib.SMTPException, OSError, SoftTimeLimitExceeded)


class ClaimBusy(Exception):
    """Another run holds a live claim on this email: try again once it may have expired."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"claimed by another run for up to {seconds:.0f}s more")
        self.seconds = seconds


def smtp_permanent(exc: BaseException) -> bool:
    """A 5xx answer (RFC 5321: permanent) about this mail: a retry would be refused again.
    A refused login (535) is the server's configuration, not this mail's: retried."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(500 <= code < 600 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return False
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


def retry_countdown(retries: int) -> float:
    """Exponential backoff with a cap; half of it random, so mails that failed together
    do not all come back at the same moment."""
    ceiling = min(settings.NOTIFICATIONS_RETRY_BACKOFF_MAX, settings.NOTIFICATIONS_RETRY_BACKOFF * 2**retries)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def retry_after(task, exc: BaseException) -> float:
    """Seconds before `task` runs again after `exc`: once another run's claim may have
    expired (ClaimBusy), else `retry_countdown`'s backoff."""
    if isinstance(exc, ClaimBusy):
        return exc.seconds + 1
    return retry_countdown(task.request.retries)
