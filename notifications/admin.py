from django.contrib import admin
from django.db.models import QuerySet

from core.admin import ReadOnlyAdmin

from .models import Digest, MemberAddedSummary, SentNotification


class StateFilter(admin.SimpleListFilter):
    """Where each email stands: sent, waiting for its first try, retrying, given up on (the
    periodic sweep tries those again, NOTIFICATIONS_RESEND_EXHAUSTED_AFTER_SECONDS later),
    refused for good by the SMTP server (5xx: never retried), or folded into a summary (past
    the recipient's hourly limit)."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("sent", "sent"), ("pending", "pending"), ("retrying", "retrying"), ("exhausted", "retries ran out"),
            ("failed", "refused (5xx)"), ("summarised", "in a summary"),
        ]  # fmt: skip

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        unsent = queryset.filter(sent_at__isnull=True)
        open_ = unsent.filter(failed_at__isnull=True, summary__isnull=True)
        return {
            "sent": queryset.filter(sent_at__isnull=False),
            "pending": open_.filter(attempts=0),
            "retrying": open_.filter(attempts__gt=0, retries_exhausted_at__isnull=True),
            "exhausted": open_.filter(retries_exhausted_at__isnull=False),
            "failed": queryset.filter(failed_at__isnull=False),
            "summarised": queryset.filter(summary__isnull=False),
        }.get(self.value(), queryset)


@admin.register(SentNotification)
class SentNotificationAdmin(ReadOnlyAdmin):
    """Read-only: rows are written by the member-added service and its email task."""

    list_display = [
        "id", "membership", "recipient", "created_at", "sent_at", "failed_at", "attempts", "retries_exhausted_at",
        "summary", "error",
    ]  # fmt: skip
    list_filter = [StateFilter, "sent_at"]
    raw_id_fields = ["membership", "recipient", "added_by", "summary"]

    @admin.display(description="last error")
    def error(self, obj: SentNotification) -> str:
        return obj.last_error[:80]


@admin.register(MemberAddedSummary)
class MemberAddedSummaryAdmin(ReadOnlyAdmin):
    """Read-only: summaries are opened by the member-added email task and sent by their own."""

    list_display = ["id", "recipient", "created_at", "due_at", "sent_at", "failed_at", "attempts"]
    raw_id_fields = ["recipient"]


@admin.register(Digest)
class DigestAdmin(ReadOnlyAdmin):
    """Read-only: windows are opened by the digest sweep and closed by the send task."""

    list_display = ["id", "user", "state", "opened_at", "due_at", "closed_at", "message_count", "attempts", "error"]
    list_filter = ["state"]  # "failed": refused by the SMTP server (5xx), never retried
    raw_id_fields = ["user"]

    @admin.display(description="last error")
    def error(self, obj: Digest) -> str:
        return obj.last_error[:80]
