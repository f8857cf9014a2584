"""Web Push hears of new messages from the chats app (chats.signals)."""

from typing import Any

from django.dispatch import receiver

from chats.models import Message
from chats.signals import message_created

from .services import message_push_later


@receiver(message_created, dispatch_uid="push.message_push_later")
def _message_push_later(sender: Any, message: Message, **kwargs: Any) -> None:
    message_push_later(message=message)  # Web Push for mentions and direct messages, after commit
