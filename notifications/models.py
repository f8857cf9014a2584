from django.conf import settings
from django.db import models

# Django finds an app's models through its models module.
from .digest.models import Digest, DigestScan, DigestSettings  # noqa: F401


class SentNotification(models.Model):
    """The email telling one admin of a chat that a member was added: one row per membership
    and recipient, written in the same transaction as the membership, `sent_at` set once the
    SMTP server accepted the mail.

    The email task claims the row in a short transaction (`claimed_at`, `claim_token`),
    commits, talks to the SMTP server with no transaction open, then marks it sent if its
    claim still holds. A second run finds it sent or claimed and does nothing (or retries
    once the claim has expired: its worker died), so a task that runs twice never emails
    twice. Past the recipient's hourly limit the row is folded into a summary instead.
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
    # The send in progress: who claimed it (a task run) and when (a claim older than
    # NOTIFICATIONS_CLAIM_SECONDS belongs to a dead worker and may be taken over).
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    # A permanent refusal (SMTP 5xx): never retried, listed in the admin.
    failed_at = models.DateTimeField(null=True, blank=True)
    # Past the recipient's hourly limit: not sent on its own, listed in the summary instead.
    summary = models.ForeignKey(
        "MemberAddedSummary", null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["membership", "recipient"], name="sentnotification_unique_recipient")
        ]
        indexes = [models.Index(fields=["sent_at"], name="sentnotification_sent_at")]

    def __str__(self) -> str:
        return f"member added #{self.membership_id} → user #{self.recipient_id}"


class MemberAddedSend(models.Model):
    """One member-added email (single or summary) claimed for a recipient: what the hourly
    limit counts. Apart from SentNotification, whose rows go with their membership: a member
    added and removed at once must still count. Rows older than two hours are pruned by the
    resend sweep."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    claimed_at = models.DateTimeField()
    claim_token = models.UUIDField(unique=True)

    class Meta:
        indexes = [models.Index(fields=["recipient", "claimed_at"], name="memberaddedsend_recipient_at")]

    def __str__(self) -> str:
        return f"member-added email to user #{self.recipient_id} at {self.claimed_at:%H:%M:%S}"


class MemberAddedSummary(models.Model):
    """One email listing the member-added notifications that came past the recipient's hourly
    limit (NOTIFICATIONS_MEMBER_ADDED_PER_HOUR), due when the recipient's hour has room again.

    At most one summary per recipient is open (not yet claimed): later overflow joins it. It is
    claimed, sent and marked like a SentNotification, and counts against the same limit.
    """

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    due_at = models.DateTimeField()
    dispatched_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["recipient"],
                condition=models.Q(claimed_at__isnull=True, sent_at__isnull=True, failed_at__isnull=True),
                name="memberaddedsummary_one_open",
            )
        ]
        indexes = [models.Index(fields=["recipient", "claimed_at"], name="memberaddedsummary_claimed")]

    def __str__(self) -> str:
        return f"member-added summary #{self.pk} → user #{self.recipient_id}"
