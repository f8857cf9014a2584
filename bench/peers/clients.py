"""Small Python clients of the peers' sockets, for the smoke checks and the Python latency
runs (the bench's Go load generator has its own: bench/loadgen/receivers.go). Each yields the
product's envelope {type, chat_id, id, data, ts} of every message its user's chats receive."""

import json
from typing import Any

import websockets

from bench.peers.server import ChannelsServer, PeerServer, SocketIOServer


class RefusedError(Exception):
    """The server refused the socket (a bad token)."""


class ChannelsSocket:
    """One WebSocket, the API token in its query; each text frame is one envelope."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket

    @classmethod
    async def open(cls, server: PeerServer, token: str) -> "ChannelsSocket":
        try:
            return cls(await websockets.connect(f"{server.ws_url}?token={token}", compression=None))
        except websockets.InvalidStatus as exc:
            raise RefusedError(f"HTTP {exc.response.status_code}") from exc

    async def recv(self) -> dict:
        return json.loads(await self.socket.recv())

    async def close(self) -> None:
        await self.socket.close()


class SocketIOSocket:
    """Socket.IO (Engine.IO 4) over one WebSocket: the server opens with `0{...}`, the client
    connects to the namespace with `40{"token": ...}` and is answered `40{"sid": ...}` (in its
    chats' rooms by then) or `44{...}` (refused); the server pings (`2`), the client pongs (`3`);
    each message comes as `42["message", <envelope>]`."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket

    @classmethod
    async def open(cls, server: PeerServer, token: str) -> "SocketIOSocket":
        socket = await websockets.connect(f"{server.ws_url}?EIO=4&transport=websocket", compression=None)
        opened = await socket.recv()
        if not opened.startswith("0"):
            raise RuntimeError(f"not an Engine.IO open packet: {opened[:100]}")
        await socket.send("40" + json.dumps({"token": token}))
        while True:
            packet = await socket.recv()
            if packet.startswith("40"):
                return cls(socket)
            if packet.startswith("44"):
                await socket.close()
                raise RefusedError(packet[2:])
            if packet == "2":
                await socket.send("3")

    async def recv(self) -> dict:
        while True:
            packet = await self.socket.recv()
            if packet == "2":
                await self.socket.send("3")
            elif packet.startswith("42"):
                return json.loads(packet[2:])[1]

    async def close(self) -> None:
        await self.socket.close()


PEERS: dict[str, tuple[type[PeerServer], type[ChannelsSocket] | type[SocketIOSocket]]] = {
    "channels": (ChannelsServer, ChannelsSocket),
    "socketio": (SocketIOServer, SocketIOSocket),
}
