"""The Django admin writes through the services, so a change made here sends the same
events (and notifications) as one made through the API. Staff act as a trusted system
path (`actor=None`)."""

from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from core.exceptions import ApplicationError

from . import services
from .models import Chat, Membership, Message


class ServiceAdmin(admin.ModelAdmin):
    """Shows a service's refusal as an admin message instead of an error page."""

    def changeform_view(self, request, *args, **kwargs):
        try:
            return super().changeform_view(request, *args, **kwargs)
        except ApplicationError as exc:
            return self._refused(request, exc)

    def delete_view(self, request, *args, **kwargs):
        try:
            return super().delete_view(request, *args, **kwargs)
        except ApplicationError as exc:
            return self._refused(request, exc)

    def changelist_view(self, request, *args, **kwargs):
        """Bulk actions ("delete selected") go through the services one object at a time."""
        try:
            return super().changelist_view(request, *args, **kwargs)
        except ApplicationError as exc:
            return self._refused(request, exc)

    def _refused(self, request, exc: ApplicationError) -> HttpResponseRedirect:
        self.message_user(request, exc.message, messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "joined_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Chat)
class ChatAdmin(ServiceAdmin):
    list_display = ["id", "title", "kind", "created_by", "last_activity_at"]
    list_filter = ["kind"]
    search_fields = ["title"]
    raw_id_fields = ["created_by"]
    inlines = [MembershipInline]

    def get_fields(self, request, obj=None):
        return ["title"] if obj else ["title", "kind", "created_by"]

    def save_model(self, request, obj: Chat, form, change: bool) -> None:
        if change:
            services.chat_update(chat=obj, actor=None, title=obj.title)
        else:
            obj.pk = services.chat_create(created_by=obj.created_by or request.user, title=obj.title, kind=obj.kind).pk

    def save_related(self, request, form, formsets, change: bool) -> None:
        """Members are managed on their own page, through the services."""

    def delete_model(self, request, obj: Chat) -> None:
        services.chat_delete(chat=obj, actor=None)


@admin.register(Membership)
class MembershipAdmin(ServiceAdmin):
    list_display = ["id", "chat", "user", "role", "joined_at"]
    list_filter = ["role"]
    raw_id_fields = ["chat", "user"]

    def get_readonly_fields(self, request, obj=None):
        return ["chat", "user"] if obj else []

    def save_model(self, request, obj: Membership, form, change: bool) -> None:
        if change:
            services.chat_member_update(chat=obj.chat, user_id=obj.user_id, role=obj.role, actor=None)
        else:
            obj.pk = services.chat_member_add(chat=obj.chat, user=obj.user, role=obj.role, added_by=None).pk

    def delete_model(self, request, obj: Membership) -> None:
        services.chat_member_remove(chat=obj.chat, user_id=obj.user_id, actor=None)


@admin.register(Message)
class MessageAdmin(ServiceAdmin):
    list_display = ["id", "chat", "author", "created_at", "deleted_at"]
    raw_id_fields = ["chat", "author"]

    def get_fields(self, request, obj=None):
        return ["text"] if obj else ["chat", "author", "text"]

    def save_model(self, request, obj: Message, form, change: bool) -> None:
        if change:
            services.message_update(message=obj, actor=None, text=obj.text)
        else:
            obj.pk = services.message_create(chat_id=obj.chat_id, author=obj.author or request.user, text=obj.text)[
                0
            ].pk

    def delete_model(self, request, obj: Message) -> None:
        services.message_delete(message=obj, actor=None)
