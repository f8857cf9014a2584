"""Keys that a test or bench run wrote on the shared Redis under a prefix of its own."""

import redis
from django.conf import settings


def keys_deleted(pattern: str, *, client: redis.Redis | None = None) -> int:
    """Deletes the keys matching `pattern`, never FLUSHDB (the Redis is shared), a thousand
    per SCAN round trip and per UNLINK; `client` for another Redis than REDIS_URL's. Returns
    how many there were."""
    own = client is None
    client = client or redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 1000):
            client.unlink(*keys[start : start + 1000])
        return len(keys)
    finally:
        if own:
            client.close()
