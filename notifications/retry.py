"""The retry policy of the email tasks (member added, digest)."""

import random
import smtplib

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

# Worth a retry: the SMTP server refused or dropped us, was unreachable or too slow.
TRANSIENT_ERRORS = (smtplib.SMTPException, OSError, SoftTimeLimitExceeded)


def retry_countdown(retries: int) -> float:
    """Exponential backoff with a cap; half of it random, so mails that failed together
    do not all come back at the same moment."""
    ceiling = min(settings.NOTIFICATIONS_RETRY_BACKOFF_MAX, settings.NOTIFICATIONS_RETRY_BACKOFF * 2**retries)
    return ceiling / 2 + random.uniform(0, ceiling / 2)
