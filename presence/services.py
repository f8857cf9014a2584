"""Typing and presence: ephemeral, straight to Centrifugo, never in the event log.

Each chat has a channel `typing:<chat id>` in a namespace without history (so nothing typed
is stored, not even by Centrifugo) and with presence and join/leave: the chat page
subscribes to its chat's channel with a subscription token (members only), hears who types
and sees who else has the chat open. Join/leave goes to the viewers of one chat, not to
every member of it: a page open on a chat of 10,000 members costs what its viewers cost.
"""

import logging
from datetime import UTC, datetime, timedelta
from typing import TypedDict

import jwt
import redis
from django.conf import settings
from django.db import connection

from accounts.models import User
from chats.models import Membership
from core.exceptions import ApplicationError, NotFoundError

logger = logging.getLogger(__name__)

# One Redis client per process for the throttle (made on first use).
_redis: redis.Redis | None = None


class TypingThrottledError(ApplicationError):
    status_code = 429


class SubscriptionToken(TypedDict):
    token: str
    channel: str
    expires_at: datetime


class TypingPublication(TypedDict):
    """What a `typing:<id>` subscriber receives (Centrifugo publication data)."""

    type: str  # always "typing"
    chat_id: int
    user: dict  # {"id": int, "username": str}


def typing_channel(chat_id: int) -> str:
    return f"{settings.CENTRIFUGO_TYPING_NAMESPACE}:{chat_id}"


def _member_check(*, chat_id: int, user: User) -> None:
    if not Membership.objects.filter(chat_id=chat_id, user=user).exists():
        raise NotFoundError("Chat not found.")


def typing_subscription_token_issue(*, chat_id: int, user: User, now: datetime | None = None) -> SubscriptionToken:
    """A token that lets `user` (members only) subscribe to the chat's typing channel; it
    lives as long as a connection token, and centrifuge-js asks for a new one (getToken)
    before it expires."""
    _member_check(chat_id=chat_id, user=user)
    now = now or datetime.now(tz=UTC)
    expires_at = now + timedelta(seconds=settings.CENTRIFUGO_TOKEN_TTL_SECONDS)
    channel = typing_channel(chat_id)
    claims = {
        "sub": str(user.pk),
        "channel": channel,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        # Shown to the other viewers in presence and join/leave.
        "info": {"username": user.get_username()},
    }
    token = jwt.encode(claims, settings.CENTRIFUGO_TOKEN_HMAC_SECRET, algorithm="HS256")
    return {"token": token, "channel": channel, "expires_at": expires_at.replace(microsecond=0)}


def _throttle_client() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    return _redis


def _throttle_pass(*, chat_id: int, user_id: int) -> bool:
    """True at most once per TYPING_THROTTLE_SECONDS for one user in one chat, across every
    web process (one Redis SET NX PX). The key names the database, so test runs and a
    `make run` sharing one Redis never throttle each other."""
    key = f"{connection.settings_dict['NAME']}:typing:{chat_id}:{user_id}"
    try:
        return bool(_throttle_client().set(key, 1, nx=True, px=int(settings.TYPING_THROTTLE_SECONDS * 1000)))
    except redis.RedisError:
        logger.warning("typing throttle: Redis unavailable; letting it through")
        return True


def typing_publish(*, chat_id: int, user: User) -> bool:
    """Tells the chat's viewers that `user` is typing; returns whether it was published.

    Members only (404 otherwise); one publication per TYPING_THROTTLE_SECONDS per user and
    chat (429 past it). Ephemeral by design: when Centrifugo is down the signal is dropped
    (logged), never queued, since "typing" minutes late is wrong.
    """
    _member_check(chat_id=chat_id, user=user)
    if not _throttle_pass(chat_id=chat_id, user_id=user.pk):
        raise TypingThrottledError("Typing is already announced; send it again in a moment.")
    data: TypingPublication = {
        "type": "typing",
        "chat_id": chat_id,
        "user": {"id": user.pk, "username": user.get_username()},
    }
    import cent  # imported when first used: web processes that never publish typing skip it

    client = cent.Client(settings.CENTRIFUGO_API_URL, api_key=settings.CENTRIFUGO_HTTP_API_KEY, timeout=1)
    try:
        client.publish(cent.PublishRequest(channel=typing_channel(chat_id), data=data))
    except cent.CentError as exc:
        logger.warning("typing publish to chat %s failed: %r", chat_id, exc)
        return False
    return True
