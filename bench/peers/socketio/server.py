"""The Socket.IO server: one AsyncServer per process, rooms shared through Redis
(AsyncRedisManager), one room per chat; the design of python-socketio's docs, with the
product's token in the connection's auth payload instead of a session."""

from collections.abc import Callable
from typing import Any

import socketio
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from bench.peers.services import chat_group, envelope, socket_user_chats

EVENT = "message"  # every frame: 42["message", <the product's envelope>]


def in_thread(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` in a thread, with Django's connection handling around it (what Channels'
    `database_sync_to_async` does): the pool gets its connection back after each call."""

    def closing(*args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()

    return sync_to_async(closing)


sio = socketio.AsyncServer(
    async_mode="asgi",
    client_manager=socketio.AsyncRedisManager(
        settings.REDIS_URL,
        channel=settings.SOCKETIO_PEER_CHANNEL,
        # redis-py 8 reads with a 5 s timeout by default: the manager's pubsub listener would
        # time out on every quiet stretch and resubscribe after a second, losing what was
        # published meanwhile.
        redis_options={"socket_timeout": None},
    ),
    # No origin check (engine.io's default is same-origin): the socket authenticates by a
    # token, never by a cookie, as the Channels peer's.
    cors_allowed_origins=[],
    logger=False,
    engineio_logger=False,
)


@sio.event
async def connect(sid: str, environ: dict, auth: dict | None) -> bool:
    """Refused (CONNECT_ERROR) without a valid token; otherwise in the room of each chat
    before the client hears it is connected."""
    key = auth.get("token") if isinstance(auth, dict) else None
    found = await in_thread(socket_user_chats)(key) if isinstance(key, str) and key else None
    if found is None:
        return False
    _user, chat_ids = found
    for chat_id in chat_ids:
        await sio.enter_room(sid, chat_group(chat_id))
    return True


async def publish(chat_id: int, data: dict[str, Any]) -> None:
    """Through Redis to every process, each of which encodes the packet once for its room."""
    await sio.emit(EVENT, envelope(data), room=chat_group(chat_id))
