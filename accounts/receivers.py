"""Sign-in hooks of the accounts app."""

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from .models import UserSession


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
