"""A user's deletion, from any path (the service, the Django admin, the shell), first takes
them out of their chats through the chat services, so members get the events."""

from typing import Any

from django.db.models.signals import pre_delete
from django.dispatch import receiver

from accounts.models import User

from .services import user_chats_leave


@receiver(pre_delete, sender=User, dispatch_uid="chats.user_chats_leave")
def _user_chats_leave(sender: Any, instance: User, **kwargs: Any) -> None:
    user_chats_leave(user=instance)
