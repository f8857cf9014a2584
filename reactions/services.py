"""Reacting to a message: one reaction per user per emoji, toggled.

The counts live on the message row (`chats.Message.reactions`, emoji -> count); this app
keeps them, under that row's lock, so two toggles at once never lose a count. The event goes
to the chat's channel once (`to_members`): a toggle costs the same statements in a chat of
2 as in one of 10,000.
"""

from django.db import transaction

from accounts.models import User
from chats.models import Message
from core.exceptions import ConflictError, NotFoundError
from realtime.services import event_emit

from .models import Reaction

# Distinct emoji on one message: bounds the row every reader gets, and the page's row.
EMOJI_PER_MESSAGE_MAX = 20


@transaction.atomic
def reaction_toggle(*, chat_id: int, message_id: int, user: User, emoji: str) -> dict:
    """Adds the user's `emoji` to the message, or takes it back if it is there; returns the
    `reaction.changed` data. The caller has checked that the user is a member of the chat."""
    counts = (
        Message.objects.select_for_update()
        .filter(pk=message_id, chat_id=chat_id)
        .values_list("reactions", "deleted_at")
        .first()
    )
    if counts is None:
        raise NotFoundError("Message not found.")
    reactions, deleted_at = counts
    if deleted_at is not None:
        raise ConflictError("A deleted message takes no reactions.")
    removed, _ = Reaction.objects.filter(message_id=message_id, user=user, emoji=emoji).delete()
    if removed:
        count = reactions.get(emoji, 1) - 1
    else:
        if emoji not in reactions and len(reactions) >= EMOJI_PER_MESSAGE_MAX:
            raise ConflictError(
                f"A message has at most {EMOJI_PER_MESSAGE_MAX} different reactions.",
                extra={"limit": EMOJI_PER_MESSAGE_MAX},
            )
        Reaction.objects.create(message_id=message_id, user=user, emoji=emoji)
        count = reactions.get(emoji, 0) + 1
    if count > 0:
        reactions[emoji] = count
    else:
        reactions.pop(emoji, None)
    Message.objects.filter(pk=message_id).update(reactions=reactions)
    data = {
        "message_id": message_id,
        "user_id": user.pk,
        "emoji": emoji,
        "added": not removed,
        "count": max(count, 0),
        "reactions": reactions,
    }
    event_emit(type="reaction.changed", chat_id=chat_id, data=data)
    return data
