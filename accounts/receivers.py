"""Sign-in hooks of the accounts app, and the revocation of cached API tokens
(accounts.token_cache) whenever the database changes under them: receivers rather than calls
in the services, because a token or a user also changes through the admin, a cascade or a
QuerySet's delete(), and Django sends these signals for each row then."""

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from knox.models import AuthToken

from . import token_cache
from .models import User, UserSession


@receiver(user_logged_in, dispatch_uid="accounts.session_record")
def _session_record(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Records the browser session a sign-in made (`login()` has given it a new key); an API
    token sign-in has no session and records nothing."""
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if key and user is not None and user.pk is not None:
        UserSession.objects.get_or_create(session_key=key, defaults={"user": user})


@receiver(user_logged_out, dispatch_uid="accounts.session_forget")
def _session_forget(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        UserSession.objects.filter(session_key=key).delete()


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
