"""The peer's HTTP side: one async view that posts a message and tells the chat's group."""

import json

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from bench.peers.channels.services import NotMemberError, chat_group, envelope_encode, message_post
from chats.models import MESSAGE_MAX_LENGTH


def _error(message: str, status: int) -> JsonResponse:
    """The product's error body."""
    return JsonResponse({"message": message, "extra": {}}, status=status)


async def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


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
        posted = await database_sync_to_async(message_post)(key=key, chat_id=chat_id, text=text, client_id=client_id)
    except NotMemberError:
        return _error("Not found.", 404)
    if posted is None:
        return _error("Invalid or expired token.", 401)
    data, created = posted
    if created:
        frame = envelope_encode(data)
        await get_channel_layer().group_send(chat_group(chat_id), {"type": "message.created", "text": frame})
    return JsonResponse(data, status=201 if created else 200)
