"""Centrifugo tokens: short-lived JWTs signed with the HMAC secret Centrifugo checks.

A connection token names the user (`sub`), which is also what lets the user (and only the
user) subscribe to `personal:#<id>`. A subscription token lets that user into one channel
of a chat, `chat:<id>` (its events) or `typing:<id>` (typing and presence); Django issues it
to members only (edge.apis.SubscriptionTokenApi), and its short life bounds how long a
removed member could still use one they kept (removal also unsubscribes them at once from
both channels).
"""

from datetime import UTC, datetime, timedelta
from typing import TypedDict

import jwt
from django.conf import settings
from django.http import HttpRequest

from accounts.models import User


class ConnectionToken(TypedDict):
    token: str
    expires_at: datetime


def centrifugo_ws_url(request: HttpRequest) -> str:
    """Where this request's client opens its WebSocket: CENTRIFUGO_WS_URL when set, else
    `/connection/websocket` on the origin the request came to, which nginx proxies to
    Centrifugo. Same-origin, so the page works at localhost and 127.0.0.1 alike."""
    if settings.CENTRIFUGO_WS_URL:
        return settings.CENTRIFUGO_WS_URL
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}/connection/websocket"


def connection_token_issue(*, user: User, now: datetime | None = None, ttl: timedelta | None = None) -> ConnectionToken:
    """Signs a connection token for `user`; `now`/`ttl` exist for tests (an expired token)."""
    now = now or datetime.now(tz=UTC)
    ttl = ttl if ttl is not None else timedelta(seconds=settings.CENTRIFUGO_TOKEN_TTL_SECONDS)
    expires_at = now + ttl
    claims = {"sub": str(user.pk), "iat": int(now.timestamp()), "exp": int(expires_at.timestamp())}
    token = jwt.encode(claims, settings.CENTRIFUGO_TOKEN_HMAC_SECRET, algorithm="HS256")
    return {"token": token, "expires_at": expires_at.replace(microsecond=0)}


def subscription_token_issue(*, user: User, channel: str, now: datetime | None = None) -> ConnectionToken:
    """Signs a subscription token for `user` to `channel`; the caller has checked access.
    A typing channel's token also carries the username (`info`), which the chat's other
    viewers see in presence and join/leave."""
    now = now or datetime.now(tz=UTC)
    expires_at = now + timedelta(seconds=settings.CENTRIFUGO_SUBSCRIPTION_TOKEN_TTL_SECONDS)
    claims = {"sub": str(user.pk), "channel": channel, "iat": int(now.timestamp()), "exp": int(expires_at.timestamp())}
    if channel.startswith(f"{settings.CENTRIFUGO_TYPING_NAMESPACE}:"):
        claims["info"] = {"username": user.get_username()}
    token = jwt.encode(claims, settings.CENTRIFUGO_TOKEN_HMAC_SECRET, algorithm="HS256")
    return {"token": token, "expires_at": expires_at.replace(microsecond=0)}
