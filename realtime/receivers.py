"""Revocation hooks: where a user's access ends, `user_delivery_revoke` ends what it still receives.

Connected here for the places that exist on every path: Django's `user_logged_out` signal
(the web logout, the admin's, the API's logout of a browser session), the deletion of an
API token that had not expired (`POST /api/auth/logout/` and `/logout-all/`, a password
change or a deactivation, which end the user's tokens, and the oldest token of a user past
the per-user limit), and a save of the user that changes the password or deactivates them
(the admin, `manage.py changepassword`, a shell, any service that saves the user). A
`QuerySet.update()` sends no signal: deactivate users through `save()`.

Centrifugo cannot tell which connection came from which token or session, so each of these
disconnects every WebSocket of the user; the feed's streams re-check their own credentials
and only those that no longer hold end.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone
from knox.models import AuthToken

from accounts.signals import access_revoked

from .services import user_delivery_revoke

User = get_user_model()


@receiver(user_logged_out, dispatch_uid="realtime.revoke_on_logout")
def _revoke_on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Django sends the signal before it flushes the session: the session goes first here,
    or a stream woken by the revocation could re-check it while it still exists and go on."""
    if user is not None and user.pk is not None:
        session = getattr(request, "session", None)
        if session is not None:
            session.flush()  # logout() flushes it again: harmless
        user_delivery_revoke(user_id=user.pk, reason="logged out")


@receiver(pre_save, sender=User, dispatch_uid="realtime.revoke_note_change")
def _note_access_change(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    """Notes, before the row changes, whether this save ends access: a new password (Django's
    `set_password` keeps the raw one in `_password` until the save; a hash upgrade at login
    clears it first, so that is not a change), or an active user made inactive (one query,
    only when saving an inactive user)."""
    if raw or instance.pk is None or instance._state.adding:
        instance._access_revoke_reason = None
        return
    if getattr(instance, "_password", None) is not None:
        instance._access_revoke_reason = "password changed"
    elif not instance.is_active and sender.objects.filter(pk=instance.pk, is_active=True).exists():
        instance._access_revoke_reason = "deactivated"
    else:
        instance._access_revoke_reason = None


@receiver(post_save, sender=User, dispatch_uid="realtime.revoke_on_change")
def _revoke_on_change(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    reason = getattr(instance, "_access_revoke_reason", None)
    if reason and not created:
        instance._access_revoke_reason = None
        user_delivery_revoke(user_id=instance.pk, reason=reason)


@receiver(post_delete, sender=AuthToken, dispatch_uid="realtime.revoke_on_token_delete")
def _revoke_on_token_delete(sender: Any, instance: AuthToken, **kwargs: Any) -> None:
    """An API token ended before its time (an expired one is cleaned up: nothing to end)."""
    if instance.expiry is None or instance.expiry > timezone.now():
        user_delivery_revoke(user_id=instance.user_id, reason="token ended")


@receiver(access_revoked, dispatch_uid="realtime.revoke_on_access_revoked")
def _revoke_on_access_revoked(sender: Any, user: Any, reason: str, **kwargs: Any) -> None:
    """Log out everywhere: every token and session of the user ended at once."""
    user_delivery_revoke(user_id=user.pk, reason=reason)
