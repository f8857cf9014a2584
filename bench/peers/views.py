"""The peers' HTTP side, the same for every peer: a health check and one async view that posts
a message and hands it to the peer's own fan-out (`publish`)."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from bench.peers.services import NotMemberError, message_post
from chats.models import MESSAGE_MAX_LENGTH

Publish = Callable[[int, dict[str, Any]], Awaitable[None]]
InThread = Callable[[Callable[..., Any]], Callable[..., Awaitable[Any]]]


def _error(message: str, status: int) -> JsonResponse:
    """The product's error body."""
    return JsonResponse({"message": message, "extra": {}}, status=status)


async def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def message_create_view(*, publish: Publish, in_thread: InThread) -> Callable[..., Awaitable[JsonResponse]]:
    """`POST /api/chats/<id>/messages/` (`Authorization: Token <key>`, body `{text, client_id}`):
    token, membership and insert in one `in_thread` hop, then `publish(chat_id, data)` of a
    new message; 201 with the message JSON (200 for a repeated client_id)."""

    @require_POST
    async def message_create_api(request: HttpRequest, chat_id: int) -> JsonResponse:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Token" or not key:
            return _error("Authentication credentials were not provided.", 401)
        try:
            body = json.loads(request.body)
        except ValueError:
            return _error("The body is not JSON.", 400)
        text = body.get("text") if isinstance(body, dict) else None
        client_id = body.get("client_id") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip() or len(text) > MESSAGE_MAX_LENGTH:
            return _error(f"text: 1 to {MESSAGE_MAX_LENGTH} characters, not only blanks.", 400)
        if client_id is not None and (not isinstance(client_id, str) or not 1 <= len(client_id) <= 64):
            return _error("client_id: 1 to 64 characters.", 400)
        try:
            posted = await in_thread(message_post)(key=key, chat_id=chat_id, text=text, client_id=client_id)
        except NotMemberError:
            return _error("Not found.", 404)
        if posted is None:
            return _error("Invalid or expired token.", 401)
        data, created = posted
        if created:
            await publish(chat_id, data)
        return JsonResponse(data, status=201 if created else 200)

    return message_create_api
