"""What notifications hears from the apps below it (accounts.signals)."""

from typing import Any

from django.dispatch import receiver

from accounts.models import User
from accounts.signals import user_created

from .verification import verification_email_send_later


@receiver(user_created, dispatch_uid="notifications.verification_email")
def _verification_email(sender: Any, user: User, **kwargs: Any) -> None:
    """The address gets the verification email, and nothing else until it is confirmed."""
    verification_email_send_later(user=user)
