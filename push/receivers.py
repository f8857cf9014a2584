"""Web Push hears of new messages from the chats app (chats.signals)."""

from typing import Any

from django.dispatch import receiver

from chats.models import Message
from chats.signals import message_created

from .services import message_push_later


@receiver(message_created, dispatch_uid="push.message_push_later")
def _message_push_later(sender: Any, message: Message, direct: bool, **kwargs: Any) -> None:
    """Web Push for mentions and direct messages, after commit. A message with no `@` in a
    group chat can mention nobody: it costs the request path no task at all."""
    if direct or "@" in message.text:
        message_push_later(message=message)
