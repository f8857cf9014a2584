"""The missed-message digest's records (imported by notifications/models.py)."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


def _default_window() -> int:
    return settings.NOTIFICATIONS_DIGEST_WINDOW_MINUTES


class DigestSettings(models.Model):
    """A user's digest preference; no row means the defaults (off, the default window): the
    digest carries other people's text, so it goes out only to those who asked for it."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="digest_settings"
    )
    enabled = models.BooleanField(default=False)
    window_minutes = models.PositiveSmallIntegerField(
        default=_default_window, validators=[MinValueValidator(1), MaxValueValidator(24 * 60)]
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return (
            f"digest of user #{self.user_id}: {'every ' + str(self.window_minutes) + ' min' if self.enabled else 'off'}"
        )


class Digest(models.Model):
    """One digest window of one member: opened by the first unread message the sweep finds
    for them, due `window_minutes` later, then sent (or closed with nothing to send).

    At most one window per user is open (a partial unique index), and (user, opened_at) is
    the window's key: a message arriving while a window is open joins it instead of
    scheduling anything. The send task locks the row and sends only while it is open, so a
    task that runs twice (a redelivery after a killed worker, a retry, a second dispatch by
    the sweep) never emails twice.
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"
        SENT = "sent", "Sent"
        EMPTY = "empty", "Nothing unread when due"
        OFF = "off", "Digest turned off when due"
        FAILED = "failed", "Refused by the SMTP server (5xx)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    opened_at = models.DateTimeField()
    due_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    # When the sweep last gave it a task: a due window with no task for a while gets another.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # The newest message id the sent digest covered: later digests start after it.
    through_message_id = models.BigIntegerField(null=True, blank=True)
    message_count = models.PositiveIntegerField(default=0)
    mention_count = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # The send in progress (see SentNotification): claimed, committed, sent, then closed.
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "opened_at"], name="digest_unique_user_window"),
            models.UniqueConstraint(fields=["user"], condition=Q(state="open"), name="digest_one_open_per_user"),
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(state="open"), name="digest_open_due"),
            models.Index(fields=["user", "-through_message_id"], name="digest_user_through"),
        ]

    def __str__(self) -> str:
        return f"digest #{self.pk} of user #{self.user_id} ({self.state})"


class DigestScan(models.Model):
    """How far the sweep has read the messages (one row). It rereads the previous sweep's
    range as well: a message whose transaction took its id before that sweep but committed
    after it is still found."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    through_message_id = models.BigIntegerField(default=0)
    previous_through_message_id = models.BigIntegerField(default=0)
    scanned_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"digest scan through #{self.through_message_id}"
