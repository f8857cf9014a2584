"""The peers' ORM work, plain sync functions, the same for every peer: their socket and
view code call them in a thread (`database_sync_to_async`, `sync_to_async`), one hop per
request or connection, as their docs do."""

import json
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed

from accounts.authentication import TokenAuthentication
from accounts.models import User
from chats.models import Membership, Message


class NotMemberError(Exception):
    """The user is not in the chat (or the chat does not exist)."""


def chat_group(chat_id: int) -> str:
    """The channel-layer group of a chat's open sockets."""
    return f"chat.{chat_id}"


def user_get_by_token(key: str) -> User | None:
    """The user of a valid API token (the product's knox token, with its expiry); None otherwise."""
    try:
        return TokenAuthentication().authenticate_credentials(key.encode())[0]
    except AuthenticationFailed:
        return None


def member_chat_ids(user: User) -> list[int]:
    return list(Membership.objects.filter(user=user).values_list("chat_id", flat=True))


def socket_user_chats(key: str) -> tuple[User, list[int]] | None:
    """What a connecting socket needs: its user and every chat it should hear, in one hop."""
    user = user_get_by_token(key)
    return None if user is None else (user, member_chat_ids(user))


def _iso(value: datetime) -> str:
    """DRF's datetime format, so the peer's JSON reads like the product's."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def message_representation(message: Message, author: User) -> dict[str, Any]:
    return {
        "id": message.pk,
        "chat_id": message.chat_id,
        "author": {"id": author.pk, "username": author.username},
        "text": message.text,
        "client_id": message.client_id,
        "created_at": _iso(message.created_at),
    }


def message_create(*, chat_id: int, author: User, text: str, client_id: str | None) -> tuple[Message, bool]:
    """Inserts a message of a member; a repeated client_id returns the first one (False: not new)."""
    if not Membership.objects.filter(chat_id=chat_id, user=author).exists():
        raise NotMemberError
    try:
        with transaction.atomic():
            return Message.objects.create(chat_id=chat_id, author=author, text=text, client_id=client_id), True
    except IntegrityError:  # the same client_id again: the first message wins
        return Message.objects.get(chat_id=chat_id, author=author, client_id=client_id), False


def message_post(*, key: str, chat_id: int, text: str, client_id: str | None) -> tuple[dict[str, Any], bool] | None:
    """The POST's whole ORM part in one hop: token, membership, insert. None: a bad token."""
    user = user_get_by_token(key)
    if user is None:
        return None
    message, created = message_create(chat_id=chat_id, author=user, text=text, client_id=client_id)
    return message_representation(message, user), created


def envelope(data: dict[str, Any]) -> dict[str, Any]:
    """The event every member receives: the product's envelope {type, chat_id, id, data, ts}."""
    return {
        "type": "message.created",
        "chat_id": data["chat_id"],
        "id": data["id"],
        "data": data,
        "ts": _iso(timezone.now()),
    }


def envelope_encode(data: dict[str, Any]) -> str:
    """One WebSocket frame, encoded once per message and sent as is to every member."""
    return json.dumps(envelope(data), separators=(",", ":"))
