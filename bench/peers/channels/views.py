"""The Channels peer's HTTP side: the peers' message view, fanned out by `group_send`."""

from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from bench.peers.services import chat_group, envelope_encode
from bench.peers.views import health, message_create_view


async def _group_send(chat_id: int, data: dict[str, Any]) -> None:
    """The frame is encoded once here; each member's consumer sends it as is."""
    frame = envelope_encode(data)
    await get_channel_layer().group_send(chat_group(chat_id), {"type": "message.created", "text": frame})


message_create_api = message_create_view(publish=_group_send, in_thread=database_sync_to_async)

__all__ = ["health", "message_create_api"]
