"""The Channels peer's settings: the peers' (bench/peers/settings.py) plus `channels` and a
Redis channel layer on the project's Redis under a prefix of its own."""

from bench.peers.settings import *  # noqa: F403
from messenger.settings.production import INSTALLED_APPS, REDIS_URL, env

INSTALLED_APPS = [*INSTALLED_APPS, "channels"]
ROOT_URLCONF = "bench.peers.channels.urls"
ASGI_APPLICATION = "bench.peers.channels.asgi.application"

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # Two redis-py 8 defaults that channels_redis 4.3 does not expect: a 5 s read timeout
            # (before 8: none), which ends every idle consumer's blocking BZPOPMIN with
            # TimeoutError (channels_redis issue 422), and a pool of 100 (before 8: unbounded)
            # that raises MaxConnectionsError when more sockets join their groups at once.
            "hosts": [{"address": REDIS_URL, "socket_timeout": None, "max_connections": 10_000}],
            # The capacity bounds a whole process's inbox (every socket of a process shares one
            # Redis key): the default 100 drops frames as soon as a burst to 100 sockets of one
            # process is pending.
            "capacity": 10_000,
            # Its own key prefix, so it never meets Celery's or another run's keys in Redis
            # (`python -m bench.peers.channels` sets one per run).
            "prefix": env.str("CHANNELS_PEER_PREFIX", default="bench-peer-channels"),
        },
    }
}
