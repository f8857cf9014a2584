from django.contrib import admin

from .models import SentNotification


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
