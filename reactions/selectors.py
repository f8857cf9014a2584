from django.db.models import QuerySet

from chats.models import Message

from .models import Reaction


def reaction_list(*, message: Message, emoji: str = "") -> QuerySet[Reaction]:
    """Who reacted to the message (with `emoji`, or with any), first reaction first."""
    rows = Reaction.objects.filter(message=message).select_related("user").order_by("id")
    return rows.filter(emoji=emoji) if emoji else rows


def reactions_of_user(*, chat_id: int, user_id: int, message_ids: list[int]) -> list[tuple[int, str]]:
    """(message id, emoji) of the user's own reactions on those messages of the chat."""
    rows = Reaction.objects.filter(user_id=user_id, message_id__in=message_ids, message__chat_id=chat_id)
    return list(rows.order_by("message_id", "id").values_list("message_id", "emoji"))
