"""A short-lived in-process cache of API token → user, so that a request with a known token
neither queries PostgreSQL nor builds model instances.

Revocation stays immediate across processes and hosts: every token has a revocation
generation in Redis (by its key prefix, `token_key`, known before any query), bumped when the
token is deleted (logout, logout everywhere, a new password, deactivation, deletion) or its
user's row is saved (accounts.receivers). A queryset's `update()` sends no signal: a user is
changed with `save(update_fields=...)`, or requests behind a token read the old row. A cache
entry remembers the generation it was read under (read *before* the database was), and a hit
is used only while Redis still holds that generation: one Redis GET instead of a query. If
Redis cannot be read the cache is bypassed (the database decides), never trusted.

Bumps happen twice: at once (so a request racing the logout's transaction cannot keep a
cached answer) and again after commit (so an entry cached from a read made before the commit
is dropped as well); the second completes before the logout's answer is sent.
"""

import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TypeVar

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import Model
from knox.models import AuthToken

from .models import User

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=Model)

# A Redis that does not answer is skipped for this long (the database decides meanwhile),
# instead of every request waiting for its socket timeout.
_REDIS_RETRY_SECONDS = 1.0
# Bounds the memory: past this many entries the cache starts over.
_MAX_ENTRIES = 20_000


@dataclass(frozen=True, slots=True)
class _Entry:
    user: User
    token: AuthToken
    generation: int
    stored_at: float


_entries: dict[str, _Entry] = {}
_pool: redis.ConnectionPool | None = None
_pool_lock = threading.Lock()
_clients = threading.local()
_redis_down_until = 0.0


def _redis() -> redis.Redis:
    """This thread's client, holding one connection of the process's pool: no checkout and
    return per GET (core.cache says what those cost). A forked child (a Celery worker) makes
    its own instead of sharing its parent's socket."""
    global _pool
    client = getattr(_clients, "client", None)
    if client is None or _clients.pid != os.getpid():
        if _pool is None:
            with _pool_lock:
                if _pool is None:
                    wait = settings.AUTH_TOKEN_CACHE_REDIS_TIMEOUT_SECONDS
                    _pool = redis.ConnectionPool.from_url(
                        settings.REDIS_URL, socket_timeout=wait, socket_connect_timeout=wait
                    )
        _clients.client, _clients.pid = redis.Redis(connection_pool=_pool, single_connection_client=True), os.getpid()
        client = _clients.client
    return client


def _key(token_key: str) -> str:
    return f"{settings.AUTH_TOKEN_CACHE_KEY_PREFIX}:{token_key}"


def _key_seconds() -> int:
    # A key outlives any entry read under it (entries live AUTH_TOKEN_CACHE_SECONDS); an
    # entry whose key has expired is a miss, never a hit.
    return 2 * settings.AUTH_TOKEN_CACHE_SECONDS + 60


def generation(token_key: str, *, claim: bool = False) -> int | None:
    """The token's revocation generation; None when Redis cannot tell or holds none (no hit
    then). `claim`, before a database read whose answer will be cached: a token without one
    gets a random one. So a Redis that lost its keys (restarted without them, flushed), and
    with them the revocations it was told of, holds no generation an entry was read under:
    every cached token is read again from the database."""
    global _redis_down_until
    if time.monotonic() < _redis_down_until or not settings.AUTH_TOKEN_CACHE_SECONDS:
        return None
    try:
        if claim:
            fresh = secrets.randbelow(2**62) + 1  # an integer that a revocation's INCR keeps one
            held = _redis().set(_key(token_key), fresh, nx=True, ex=_key_seconds(), get=True)
            return int(held) if held is not None else fresh
        value = _redis().get(_key(token_key))
    except redis.RedisError:
        _redis_down_until = time.monotonic() + _REDIS_RETRY_SECONDS
        logger.warning("token cache: Redis unreachable, authenticating from the database", exc_info=True)
        return None
    return int(value) if value is not None else None


def get(digest: str) -> tuple[User, AuthToken] | None:
    """The cached user and token for this token digest if still valid, as fresh copies (a
    view may change or delete what it gets; the cached instances stay untouched)."""
    entry = _entries.get(digest)
    if entry is None:
        return None
    if time.monotonic() - entry.stored_at > settings.AUTH_TOKEN_CACHE_SECONDS:
        _entries.pop(digest, None)
        return None
    if generation(entry.token.token_key) != entry.generation:
        _entries.pop(digest, None)
        return None
    user = _copied(entry.user)
    token = _copied(entry.token)
    token._state.fields_cache["user"] = user
    return user, token


def _copied(instance: M) -> M:
    """A copy of a model instance, as `copy.copy` makes (Model.__getstate__: the fields, and
    a state of its own) in half the time: without the pickle protocol's round through
    `apps.get_model`."""
    clone = instance.__class__.__new__(instance.__class__)
    clone.__dict__ = instance.__getstate__()
    return clone


def put(digest: str, user: User, token: AuthToken, *, generation: int | None, read_at: float) -> None:
    """Caches what the database said, under the generation read before the database was."""
    if generation is None or not settings.AUTH_TOKEN_CACHE_SECONDS:
        return
    if len(_entries) >= _MAX_ENTRIES:
        _entries.clear()
    _entries[digest] = _Entry(_copied(user), _copied(token), generation, read_at)


def revoke(token_keys: list[str]) -> None:
    """Ends the cached entries of these tokens in every process: now and after commit."""
    if token_keys:
        _bump(token_keys)
        transaction.on_commit(lambda: _bump(token_keys))


def _bump(token_keys: list[str]) -> None:
    ttl = _key_seconds()
    revoked = set(token_keys)
    for entry_digest, entry in list(_entries.items()):
        if entry.token.token_key in revoked:
            _entries.pop(entry_digest, None)
    try:
        pipe = _redis().pipeline(transaction=False)
        for token_key in revoked:
            pipe.incr(_key(token_key))
            pipe.expire(_key(token_key), ttl)
        pipe.execute()
    except redis.RedisError:
        # Other processes may keep a cached entry for up to AUTH_TOKEN_CACHE_SECONDS.
        logger.error("token cache: could not publish the revocation of %d tokens", len(revoked), exc_info=True)


def clear() -> None:
    """Forgets every entry of this process (tests)."""
    _entries.clear()
