"""Django's Redis cache backend, with one Redis client per connection pool instead of one
per call.

Django's RedisCacheClient builds a new `redis.Redis` for every get and set; redis-py 8 fills
a table of some 170 response callbacks in each constructor, which cost more than the round
trip itself (a third of the throttle's time on the message POST, docs/performance.md). A
client is safe to share between threads (commands take connections from the pool), and
Django keeps a cache object per thread anyway.
"""

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis import Redis


class _ReusingClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:
                self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = self._clients[index] = self._client(connection_pool=self._pools[index])
        return client


class ReusingRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ReusingClient

    def redis(self) -> Redis:
        """The client itself, for commands the cache API lacks (core.throttling's script)."""
        return self._cache.get_client(write=True)
