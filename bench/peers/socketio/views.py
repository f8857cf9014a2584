"""The python-socketio peer's HTTP side: the peers' message view, fanned out by `sio.emit`."""

from bench.peers.socketio.server import in_thread, publish
from bench.peers.views import health, message_create_view

message_create_api = message_create_view(publish=publish, in_thread=in_thread)

__all__ = ["health", "message_create_api"]
