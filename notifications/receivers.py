"""What notifications hears from the apps below it (accounts.signals, chats.signals)."""

from typing import Any

from django.dispatch import receiver

from accounts.models import User
from accounts.signals import user_created
from chats.models import Membership
from chats.signals import member_added

from .services import member_added_notify_later
from .verification import verification_email_send_later


@receiver(user_created, dispatch_uid="notifications.verification_email")
def _verification_email(sender: Any, user: User, **kwargs: Any) -> None:
    """The address gets the verification email, and nothing else until it is confirmed."""
    verification_email_send_later(user=user)


@receiver(member_added, dispatch_uid="notifications.member_added_emails")
def _member_added_emails(sender: Any, membership: Membership, added_by: User | None, **kwargs: Any) -> None:
    member_added_notify_later(membership=membership, added_by=added_by)
