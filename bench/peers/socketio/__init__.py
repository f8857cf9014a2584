"""A python-socketio peer of the product's real-time path (issue 19, scenario 7); see README.md.

`SocketIOServer` (bench/peers/server.py) starts `python -m bench.peers.socketio` on a free
loopback port for the smoke check and the benchmarks.
"""

from bench.peers.server import SocketIOServer

__all__ = ["SocketIOServer"]
