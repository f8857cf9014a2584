from django.db.models import QuerySet

from chats.models import Message

from .models import Reaction


def reaction_list(*, message: Message, emoji: str = "") -> QuerySet[Reaction]:
    """Who reacted to the message (with `emoji`, or with any), first reaction first."""
    rows = Reaction.objects.filter(message=message).select_related("user").order_by("id")
    return rows.filter(emoji=emoji) if emoji else rows
