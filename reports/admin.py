from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import ActivityReport, UserReport


@admin.register(UserReport)
class UserReportAdmin(ReadOnlyAdmin):
    """Read-only: rows come from the report's tasks. The schedule itself is under Periodic tasks."""

    list_display = ["created_at", "total_users", "active_users", "joined_since_previous", "written_at", "error"]
    readonly_fields = [field.name for field in UserReport._meta.fields]


@admin.register(ActivityReport)
class ActivityReportAdmin(ReadOnlyAdmin):
    """Read-only: rows come from the daily activity report's tasks."""

    list_display = ["day", "days", "messages", "active_users", "created_at", "emailed_at"]
    exclude = ["csv", "png"]
    readonly_fields = ["day", "days", "messages", "active_users", "created_at", "emailed_at"]
