"""A Django Channels peer of the product's real-time path (issue 9, scenario 7); see README.md.

`ChannelsServer` (bench/peers/server.py) starts `python -m bench.peers.channels` on a free
loopback port for the smoke check and the benchmarks.
"""

from bench.peers.server import ChannelsServer

__all__ = ["ChannelsServer"]
