"""The retry policy every report task shares."""

import smtplib

from django.db import DatabaseError

# A database or SMTP blip: retried with exponential backoff (capped at a minute).
RETRY = {
    "autoretry_for": (DatabaseError, smtplib.SMTPException, ConnectionError, TimeoutError),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 4,
    # Each step is idempotent, so late acks may run it again after a lost worker.
    "acks_late": True,
    "reject_on_worker_lost": True,
}
