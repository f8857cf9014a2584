"""The daily activity report's record (imported by models.py)."""

from django.db import models


class ActivityReport(models.Model):
    """One day's activity report: messages per chat and active users per day over the
    `days` days ending `day`, as a CSV and a PNG chart kept here (staff download them through
    the API) and emailed to staff once (`emailed_at`)."""

    day = models.DateField(unique=True, help_text="The last day covered (UTC).")
    days = models.PositiveSmallIntegerField(default=14)
    created_at = models.DateTimeField(auto_now_add=True)
    csv = models.TextField()
    png = models.BinaryField()
    messages = models.PositiveIntegerField(help_text="Messages on `day`.")
    active_users = models.PositiveIntegerField(help_text="Users who wrote on `day`.")
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"Activity report {self.day:%Y-%m-%d}"
