"""One consumer per socket, one channel-layer group per chat: the design of the Channels
tutorial, with the product's token instead of a session."""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from bench.peers.services import chat_group, socket_user_chats


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        keys = parse_qs(self.scope["query_string"].decode()).get("token") or [""]
        found = await database_sync_to_async(socket_user_chats)(keys[0])
        if found is None:
            await self.close()  # before accept: the handshake is refused with 403
            return
        _user, chat_ids = found
        # Kept in self.groups, so that Channels' websocket_disconnect leaves every one of them.
        self.groups = [chat_group(chat_id) for chat_id in chat_ids]
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def message_created(self, event: dict) -> None:
        """A group_send of type message.created: the frame was encoded once by the poster."""
        await self.send(text_data=event["text"])
