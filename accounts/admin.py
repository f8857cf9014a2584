"""Users and their API tokens in the Django admin.

Tokens are listed by owner and dates only: the table holds digests, and no page shows or
makes a usable key (a token comes from signing in). Deleting a token revokes it. Deleting
a user goes through `user_delete`, so their chats are handed over or deleted, with events.
"""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpResponseRedirect
from knox.models import AuthToken

from core.admin import ReadOnlyAdmin
from core.exceptions import ApplicationError

from .models import User
from .services import user_delete


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    def delete_model(self, request, obj: User) -> None:
        user_delete(user=obj)

    def delete_queryset(self, request, queryset) -> None:
        for user in queryset:
            user_delete(user=user)

    def delete_view(self, request, *args, **kwargs):
        try:
            return super().delete_view(request, *args, **kwargs)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


# knox's own page lists digests and has an add form that prints a new key: replaced.
if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class AuthTokenAdmin(ReadOnlyAdmin):
    list_display = ["user", "created", "expiry"]
    list_select_related = ["user"]
    search_fields = ["user__username"]
    fields = ["user", "created", "expiry"]
    readonly_fields = fields
    ordering = ["-created"]
