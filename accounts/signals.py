"""Revokes cached API tokens (accounts.token_cache) whenever the database changes under them.

Receivers rather than calls in the services: a token or a user also changes through the
admin, a cascade or a QuerySet's delete(), and Django sends these signals for each row then.
"""

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from knox.models import AuthToken

from . import token_cache
from .models import User


@receiver(post_delete, sender=AuthToken, dispatch_uid="accounts.token_deleted")
def token_deleted(sender: type[AuthToken], instance: AuthToken, **kwargs: Any) -> None:
    token_cache.revoke([instance.token_key])


@receiver(post_save, sender=User, dispatch_uid="accounts.user_saved")
def user_saved(sender: type[User], instance: User, created: bool, update_fields: Any = None, **kwargs: Any) -> None:
    """A cached user is a copy of the row: a change (deactivation, a new name) drops it.
    Signing in only stamps last_login, which nothing behind a token reads."""
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return
    token_cache.revoke(list(AuthToken.objects.filter(user_id=instance.pk).values_list("token_key", flat=True)))
