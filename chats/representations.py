"""The JSON of chats, members and messages: what the REST API answers and what events carry.

Plain functions, not ModelSerializers: they run on every message POST and every event, and
a ModelSerializer pass costs more than the rest of the request's Python. The serializers in
`serializers.py` describe the same shapes for OpenAPI; a test keeps the two equal.
"""

from datetime import datetime
from typing import Any

from accounts.models import User
from realtime.events import QUOTE_LENGTH

from .models import Chat, Membership, Message, MessageEdit


def iso_time(value: datetime | None) -> str | None:
    """A timestamp as DRF writes it (ISO 8601, UTC as `Z`)."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def user_public_data(user: User | None) -> dict[str, Any] | None:
    """What other members see of a user: never the email."""
    return None if user is None else {"id": user.pk, "username": user.username}


def chat_data(chat: Chat) -> dict[str, Any]:
    return {
        "id": chat.pk,
        "title": chat.title,
        "kind": chat.kind,
        "created_by": chat.created_by_id,
        "created_at": iso_time(chat.created_at),
        "updated_at": iso_time(chat.updated_at),
        "last_activity_at": iso_time(chat.last_activity_at),
        "announcement": chat.announcement,
    }


def membership_data(membership: Membership) -> dict[str, Any]:
    return {
        "chat_id": membership.chat_id,
        "user": user_public_data(membership.user),
        "role": membership.role,
        "joined_at": iso_time(membership.joined_at),
    }


def message_data(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "chat_id": message.chat_id,
        "author": user_public_data(message.author),
        "text": message.text,
        "client_id": message.client_id,
        "created_at": iso_time(message.created_at),
        "edited_at": iso_time(message.edited_at),
        "deleted_at": iso_time(message.deleted_at),
        "reply_to": reply_data(message.reply_to) if message.reply_to_id else None,
        "reactions": message.reactions,
    }


def reply_data(original: Message | None) -> dict[str, Any] | None:
    """The quoted original of a reply, as it is now: a deleted original has no text."""
    if original is None:
        return None
    deleted = original.deleted_at is not None
    return {
        "id": original.pk,
        "author": user_public_data(original.author),
        "text": "" if deleted else original.text[:QUOTE_LENGTH],
        "deleted": deleted,
    }


def message_edit_data(edit: MessageEdit) -> dict[str, Any]:
    return {"text": edit.text, "written_at": iso_time(edit.written_at), "replaced_at": iso_time(edit.replaced_at)}
