from django.contrib import admin

from .models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "chat_id", "created_at"]
    list_filter = ["type"]
    readonly_fields = ["type", "chat_id", "to_members", "also_to", "data", "created_at", "txid"]

    # The log is written by event_emit and pruned by event_log_prune only: an event added or
    # deleted here would be a gap or a fake that no client could tell from a real one.
    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
