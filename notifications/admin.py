from django.contrib import admin
from django.db.models import QuerySet

from .models import Digest, SentNotification


class StateFilter(admin.SimpleListFilter):
    """Where each email stands: sent, waiting for its first try, retrying, or given up on
    (the periodic sweep tries those again, NOTIFICATIONS_RESEND_EXHAUSTED_AFTER_SECONDS later)."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("sent", "sent"), ("pending", "pending"), ("retrying", "retrying"), ("exhausted", "retries ran out")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        unsent = queryset.filter(sent_at__isnull=True)
        return {
            "sent": queryset.filter(sent_at__isnull=False),
            "pending": unsent.filter(attempts=0),
            "retrying": unsent.filter(attempts__gt=0, retries_exhausted_at__isnull=True),
            "exhausted": unsent.filter(retries_exhausted_at__isnull=False),
        }.get(self.value(), queryset)


@admin.register(SentNotification)
class SentNotificationAdmin(admin.ModelAdmin):
    """Read-only: rows are written by the member-added service and its email task."""

    list_display = [
        "id", "membership", "recipient", "created_at", "sent_at", "attempts", "retries_exhausted_at", "error",
    ]  # fmt: skip
    list_filter = [StateFilter, "sent_at"]
    raw_id_fields = ["membership", "recipient", "added_by"]

    @admin.display(description="last error")
    def error(self, obj: SentNotification) -> str:
        return obj.last_error[:80]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Digest)
class DigestAdmin(admin.ModelAdmin):
    """Read-only: windows are opened by the digest sweep and closed by the send task."""

    list_display = ["id", "user", "state", "opened_at", "due_at", "closed_at", "message_count", "attempts"]
    list_filter = ["state"]
    raw_id_fields = ["user"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
