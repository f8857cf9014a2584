"""The python-socketio peer's settings: the peers' (bench/peers/settings.py) and the Redis
channel its AsyncRedisManager publishes on, one per run."""

from bench.peers.settings import *  # noqa: F403
from messenger.settings.production import env

ROOT_URLCONF = "bench.peers.socketio.urls"
# `python -m bench.peers.socketio` sets one per run, so that two runs never hear each other.
SOCKETIO_PEER_CHANNEL = env.str("SOCKETIO_PEER_PREFIX", default="bench-peer-socketio")
