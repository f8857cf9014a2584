from django.conf import settings
from django.db import models

# Django finds an app's models through its models module.
from .digest.models import Digest, DigestScan, DigestSettings  # noqa: F401


class SentNotification(models.Model):
    """The email telling one admin of a chat that a member was added: one row per membership
    and recipient, written in the same transaction as the membership, `sent_at` set once the
    SMTP server accepted the mail.

    The email task locks this row and sends only while `sent_at` is empty, so a task that runs
    twice (a redelivery after a killed worker, a retry) never emails twice.
    """

    membership = models.ForeignKey("chats.Membership", on_delete=models.CASCADE, related_name="+")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # Who added the member; empty for system paths (Django admin, shell).
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Failed tries so far and the last error, for the admin page; the row stays unsent.
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # When the task's retries ran out; the periodic sweep gives the row a new task after
    # NOTIFICATIONS_RESEND_EXHAUSTED_AFTER_SECONDS (a long SMTP outage ends at some point).
    retries_exhausted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["membership", "recipient"], name="sentnotification_unique_recipient")
        ]
        indexes = [models.Index(fields=["sent_at"], name="sentnotification_sent_at")]

    def __str__(self) -> str:
        return f"member added #{self.membership_id} → user #{self.recipient_id}"
