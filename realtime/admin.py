from django.contrib import admin

from .models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "chat_id", "created_at"]
    list_filter = ["type"]
    readonly_fields = ["type", "chat_id", "recipient_ids", "data", "created_at"]
