"""Django's Redis cache backend, with one Redis client per connection pool instead of one
per call, holding its connection.

Django's RedisCacheClient builds a new `redis.Redis` for every get and set; redis-py 8 fills
a table of some 170 response callbacks in each constructor, which cost more than the round
trip itself (a third of the throttle's time on the message POST, docs/performance.md).
Django keeps a cache object per thread, so each client here is one thread's: it keeps one
connection (redis-py's `single_connection_client`) instead of taking it from the pool and
giving it back for every command, which checks the socket and the process id each time
(a tenth to a sixth of a GET's CPU here). A client shared after all is still safe: redis-py
runs its commands one at a time under a lock.
"""

import os
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis import Redis


class _ReusingClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}
        self._pid = os.getpid()

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        if self._pid != os.getpid():  # a forked child: its own connections, not its parent's socket
            self._clients, self._pid = {}, os.getpid()
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:
                self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            pool = self._pools[index]
            client = self._clients[index] = self._client(connection_pool=pool, single_connection_client=True)
        return client


class ReusingRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ReusingClient

    def redis(self) -> Redis:
        """The client itself, for commands the cache API lacks (core.throttling's script)."""
        return self._cache.get_client(write=True)
