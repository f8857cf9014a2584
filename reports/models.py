from django.db import models
from django.utils import timezone

# Django finds an app's models through its models module.
from .activity.models import ActivityReport  # noqa: F401


class UserReport(models.Model):
    """One run of the periodic user report: the counts at `created_at`, and when each later
    step of its chain (write the file line, email staff) was done."""

    # The id of the task that started the chain: a rerun of the count step finds its row.
    run_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    total_users = models.PositiveIntegerField()
    active_users = models.PositiveIntegerField()
    # Users who joined after the previous report's `created_at` (all users for the first one).
    joined_since_previous = models.PositiveIntegerField()
    previous_at = models.DateTimeField(null=True, blank=True)
    written_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    # Set by a step that gave up (its soft time limit, retries exhausted).
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"User report {self.created_at:%Y-%m-%d %H:%M:%S}"

    def csv_line(self) -> str:
        """The line of the report file: ISO time, total, active, joined since the previous."""
        return f"{self.created_at.isoformat()},{self.total_users},{self.active_users},{self.joined_since_previous}"
