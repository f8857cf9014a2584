"""A short-lived in-process cache of API token → user, so that a request with a known token
neither queries PostgreSQL nor builds model instances, and most often does not ask Redis
either.

Revocation stays immediate across processes and hosts: every token has a revocation
generation in Redis (by its key prefix, `token_key`, known before any query), bumped when the
token is deleted (logout, logout everywhere, a new password, deactivation, deletion) or its
user's row is saved (accounts.receivers). A queryset's `update()` sends no signal: a user is
changed with `save(update_fields=...)`, or requests behind a token read the old row. A cache
entry remembers the generation it was read under (read *before* the database was), and is
used only while Redis still holds that generation. If Redis cannot be read the cache is
bypassed (the database decides), never trusted.

Every revocation also bumps one revocation epoch, after the generations. A process reads the
epoch at most once per AUTH_TOKEN_REVOCATION_SECONDS; an entry last checked under the epoch
it holds now is used without asking Redis about its token (one GET a request otherwise). So
a process may not see a revocation for that long, and the revoking request answers only after
it: a request sent after the answer is never served from a cache that missed it.

Redis is told after commit, so nothing waits on it inside the revoking transaction: an entry
cached from a database read made before the commit was stamped before the bump, and is
dropped. The bump, and then the wait, complete before the logout's answer is sent, once per
transaction however many tokens it revoked. The revoking process drops its own entries at
once.

A revocation is also a row (TokenRevocation) written in the revoking transaction and deleted
once Redis has it. One that Redis missed (unreachable from the revoking process but not from
the others, or back with its keys after an outage) is published by the periodic
`accounts.token_revocations_publish` every 10 s; so entries may live for minutes
(AUTH_TOKEN_CACHE_SECONDS), and the bound of that failure is the task's period, not theirs.
"""

import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, replace
from typing import TypeVar

import redis
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Model
from knox.models import AuthToken

from .models import TokenRevocation, User

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=Model)

# A Redis that does not answer is skipped for this long (the database decides meanwhile),
# instead of every request waiting for its socket timeout.
_REDIS_RETRY_SECONDS = 1.0
# Bounds the memory: past this many entries the cache starts over.
_MAX_ENTRIES = 20_000


@dataclass(frozen=True, slots=True)
class Stamp:
    """What an entry is read under: its token's generation and the revocation epoch, both
    read before the database was (the epoch first), and when."""

    generation: int
    epoch: int
    read_at: float


@dataclass(frozen=True, slots=True)
class _Entry:
    user: User
    token: AuthToken
    stamp: Stamp


_entries: dict[str, _Entry] = {}
# The epoch as last read from Redis, and when that read began.
_epoch_seen: tuple[int, float] | None = None
# The revocations written in this thread's transaction (row id → token key), told to Redis
# once it commits.
_pending = threading.local()
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


def _epoch_key() -> str:
    return f"{settings.AUTH_TOKEN_CACHE_KEY_PREFIX}:epoch"


def _key_seconds() -> int:
    # A key outlives any entry read under it (entries live AUTH_TOKEN_CACHE_SECONDS); an
    # entry whose key has expired is a miss, never a hit.
    return 2 * settings.AUTH_TOKEN_CACHE_SECONDS + 60


def _fresh() -> int:
    """A starting value for a counter Redis does not hold: random, so that a Redis that lost
    its keys (restarted without them, flushed), and with them the revocations it was told of,
    never holds again a value an entry was read under."""
    return secrets.randbelow(2**62) + 1  # an integer that INCR keeps one


def _read(key: str, *, claim: bool, seconds: int | None) -> int | None:
    """A counter's value; None when Redis cannot tell, or holds none and `claim` is off.
    `claim` gives a missing counter a fresh value (expiring after `seconds`, if given)."""
    global _redis_down_until
    if time.monotonic() < _redis_down_until or not settings.AUTH_TOKEN_CACHE_SECONDS:
        return None
    try:
        if claim:
            fresh = _fresh()
            held = _redis().set(key, fresh, nx=True, ex=seconds, get=True)
            return int(held) if held is not None else fresh
        value = _redis().get(key)
    except redis.RedisError:
        _redis_down_until = time.monotonic() + _REDIS_RETRY_SECONDS
        logger.warning("token cache: Redis unreachable, authenticating from the database", exc_info=True)
        return None
    return int(value) if value is not None else None


def generation(token_key: str, *, claim: bool = False) -> int | None:
    """The token's revocation generation; None when Redis cannot tell or holds none (no hit
    then). `claim`, before a database read whose answer will be cached: a token without one
    gets a fresh one, so every entry read before Redis lost its keys is read again."""
    return _read(_key(token_key), claim=claim, seconds=_key_seconds())


def epoch() -> int | None:
    """The revocation epoch as read at most AUTH_TOKEN_REVOCATION_SECONDS ago, read again if
    older; None when Redis cannot tell."""
    global _epoch_seen
    began, seen = time.monotonic(), _epoch_seen
    if seen is not None and began - seen[1] < settings.AUTH_TOKEN_REVOCATION_SECONDS:
        return seen[0]
    value = _read(_epoch_key(), claim=True, seconds=None)
    if value is not None:
        _epoch_seen = (value, began)
    return value


def stamp(token_key: str) -> Stamp | None:
    """Read before the database, for `put`: None when Redis cannot tell (nothing is cached)."""
    read_at = time.monotonic()
    current = epoch()  # before the generation: see get()
    if current is None:
        return None
    held = generation(token_key, claim=True)
    return None if held is None else Stamp(held, current, read_at)


def get(digest: str) -> tuple[User, AuthToken] | None:
    """The cached user and token for this token digest if still valid, as fresh copies (a
    view may change or delete what it gets; the cached instances stay untouched).

    An entry checked under the epoch this process holds (read within the last
    AUTH_TOKEN_REVOCATION_SECONDS) is valid without a word to Redis. Otherwise its token's
    generation is read, after the epoch: so an entry marked with an epoch has seen every
    revocation made before that epoch was read, and a later one changes the epoch."""
    entry = _entries.get(digest)
    if entry is None:
        return None
    if time.monotonic() - entry.stamp.read_at > settings.AUTH_TOKEN_CACHE_SECONDS:
        _entries.pop(digest, None)
        return None
    current = epoch()
    if current is None or current != entry.stamp.epoch:
        if generation(entry.token.token_key) != entry.stamp.generation:
            _entries.pop(digest, None)
            return None
        if current is not None:
            entry = _entries[digest] = replace(entry, stamp=replace(entry.stamp, epoch=current))
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


def put(digest: str, user: User, token: AuthToken, *, stamp: Stamp | None) -> None:
    """Caches what the database said, under the stamp read before the database was."""
    if stamp is None or not settings.AUTH_TOKEN_CACHE_SECONDS:
        return
    if len(_entries) >= _MAX_ENTRIES:
        _entries.clear()
    _entries[digest] = _Entry(_copied(user), _copied(token), stamp)


def revoke(token_keys: list[str]) -> None:
    """Ends the cached entries of these tokens: this process's at once; every process's once
    the transaction commits, then waits out the epoch's lifetime (once per transaction). The
    revocation is written in the revoking transaction, once per token however often the
    transaction revokes it (a deactivation saves the user, then deletes each token), and
    deleted once Redis has it: one that Redis missed is published by `publish_missed`."""
    if not token_keys:
        return
    _forget(token_keys)
    fresh = set(token_keys) - _revoked_in_this_transaction()
    if not fresh:
        return
    rows = TokenRevocation.objects.bulk_create(TokenRevocation(token_key=key) for key in fresh)
    pending: dict[int, str] = _pending.__dict__.setdefault("rows", {})
    pending.update((row.pk, row.token_key) for row in rows)
    # Rows of a rolled-back transaction were never written: their keys are bumped with the
    # next commit's, which is harmless.
    transaction.on_commit(_Revoked(fresh))


class _Revoked:
    """What one `revoke` wrote, as the callback that tells Redis once the transaction commits.
    One callback per call, but the first to run bumps them all and waits; the others find
    nothing left. Django drops the callbacks of a rolled-back savepoint or transaction, so
    those still registered name what this transaction has written."""

    def __init__(self, token_keys: set[str]) -> None:
        self.token_keys = token_keys

    def __call__(self) -> None:
        _bump_committed()


def _revoked_in_this_transaction() -> set[str]:
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return set()
    # Django's own list of this transaction's on_commit callbacks: (savepoints, callback, robust).
    callbacks = [callback for _, callback, _ in connection.run_on_commit if isinstance(callback, _Revoked)]
    return {key for callback in callbacks for key in callback.token_keys}


def _forget(token_keys: list[str]) -> None:
    """Drops this process's entries of these tokens."""
    revoked = set(token_keys)
    for entry_digest, entry in list(_entries.items()):
        if entry.token.token_key in revoked:
            _entries.pop(entry_digest, None)


def _bump_committed() -> None:
    pending: dict[int, str] = _pending.__dict__.get("rows", {})
    if not pending:
        return
    rows = dict(pending)
    pending.clear()
    try:
        if not _publish(rows):
            return  # the rows stay for publish_missed
    except DatabaseError:
        # Redis has them: publish_missed will only bump them once more.
        logger.warning("token cache: could not delete %d published revocations", len(rows), exc_info=True)
    # Every process reads the epoch again within this long: any request sent after this
    # request's answer sees the revocation.
    time.sleep(settings.AUTH_TOKEN_REVOCATION_SECONDS)


def publish_missed(*, batch: int = 5000) -> int:
    """Publishes the revocations still written down (Redis missed them after commit, or the
    revoking process died before it could tell Redis); how many. Bumping one twice only ends
    its cached entries once more. Stops at the first batch Redis does not take."""
    published = 0
    while rows := dict(TokenRevocation.objects.order_by("pk").values_list("pk", "token_key")[:batch]):
        if not _publish(rows):
            break
        published += len(rows)
        if len(rows) < batch:
            break
    return published


def _publish(rows: dict[int, str]) -> bool:
    """Tells Redis of these written revocations (row id → token key), then deletes their rows;
    whether Redis took them (if not, the rows stay)."""
    if not _bump(list(rows.values())):
        return False
    TokenRevocation.objects.filter(pk__in=rows).delete()
    return True


def _bump(token_keys: list[str]) -> bool:
    """Drops this process's entries of these tokens and bumps their generations, then the
    epoch; whether Redis took it. A counter Redis does not hold starts from a fresh value, not
    from 0: one that lost its keys twice must not give a generation or an epoch a value it
    had before."""
    global _epoch_seen
    ttl = _key_seconds()
    revoked = set(token_keys)
    _forget(token_keys)
    try:
        pipe = _redis().pipeline(transaction=False)
        for token_key in revoked:
            pipe.set(_key(token_key), _fresh(), nx=True, ex=ttl)
            pipe.incr(_key(token_key))
            pipe.expire(_key(token_key), ttl)
        pipe.set(_epoch_key(), _fresh(), nx=True)
        pipe.incr(_epoch_key())
        pipe.execute()
        _epoch_seen = None  # this process reads the new epoch at once
    except redis.RedisError:
        # Other processes may serve these tokens from memory until publish_missed tells Redis.
        logger.error("token cache: could not publish the revocation of %d tokens", len(revoked), exc_info=True)
        return False
    return True


def clear() -> None:
    """Forgets every entry of this process, the epoch it read and the revocations it has to
    publish after a commit (tests)."""
    global _epoch_seen
    _entries.clear()
    _pending.__dict__.pop("rows", None)
    _epoch_seen = None
