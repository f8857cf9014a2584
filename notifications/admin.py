from django.contrib import admin

from .models import Digest, SentNotification


@admin.register(SentNotification)
class SentNotificationAdmin(admin.ModelAdmin):
    """Read-only: rows are written by the member-added service and its email task."""

    list_display = ["id", "membership", "recipient", "added_by", "created_at", "sent_at", "attempts"]
    list_filter = ["sent_at"]
    raw_id_fields = ["membership", "recipient", "added_by"]

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
