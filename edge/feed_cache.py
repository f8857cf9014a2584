"""What the feed process remembers between requests so that a long poll at the head costs
no database round trip: who a token or a session is, and which chats a user is in.

Kept true by the events the process's listener reads anyway (`FeedCache.apply`, called
before any waiter wakes): `user.revoked` (logout, password change, deactivation, a token
deleted before its time) forgets every credential and the chats of that user; a membership
event naming a user updates their chats. Bounded: least recently used entries go past
REALTIME_FEED_CACHE_ENTRIES, and an entry lives REALTIME_FEED_CACHE_SECONDS at most (a
session row deleted by hand, with no event, is believed that long). A miss reads the
database once (`edge.feed_apis`) and fills the entry, unless an event about that user
was applied meanwhile (the read may predate it): then the next request reads again.

While the listener is not reading (`ready` false) nothing here is trusted: it is cleared.
"""

import hashlib
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

# Events naming a user that make them a member of the chat, or no longer one.
JOINS = frozenset({"chat.created", "member.added"})
LEAVES = frozenset({"chat.deleted", "member.removed"})
REVOKED = "user.revoked"


class CacheEvent(Protocol):
    type: str
    chat_id: int
    also_to: frozenset[int]


def token_key(token: str) -> str:
    """The cache key of an API token (a hash: the key itself is not kept)."""
    return "t:" + hashlib.sha256(token.encode()).hexdigest()


def session_key(session_id: str) -> str:
    return "s:" + session_id


@dataclass
class FeedCacheStats:
    hits: int = 0
    misses: int = 0
    invalidations: int = 0


@dataclass
class FeedCache:
    max_entries: int
    ttl: float
    _credentials: "OrderedDict[str, tuple[int, float]]" = field(default_factory=OrderedDict)
    _keys_of: dict[int, set[str]] = field(default_factory=dict)
    _chats: "OrderedDict[int, tuple[set[int], float]]" = field(default_factory=OrderedDict)
    # A counter of applied changes, and the value it had at the last change about each user.
    _seq: int = 0
    _changed: dict[int, int] = field(default_factory=dict)
    _floor_seq: int = 0
    stats: FeedCacheStats = field(default_factory=FeedCacheStats)

    @property
    def seq(self) -> int:
        """Take before a database read; pass to the `*_put` that stores its result."""
        return self._seq

    def user_of(self, key: str) -> int | None:
        entry = self._credentials.get(key)
        if entry is None or entry[1] <= time.monotonic():
            self.stats.misses += 1
            return None
        self._credentials.move_to_end(key)
        self.stats.hits += 1
        return entry[0]

    def user_put(self, key: str, user_id: int, *, seq: int, expires_in: float | None = None) -> None:
        if not self._storable(user_id, seq):
            return
        ttl = self.ttl if expires_in is None else min(self.ttl, expires_in)
        if ttl <= 0:
            return
        self._credentials[key] = (user_id, time.monotonic() + ttl)
        self._credentials.move_to_end(key)
        self._keys_of.setdefault(user_id, set()).add(key)
        while len(self._credentials) > self.max_entries:
            old_key, (old_user, _) = self._credentials.popitem(last=False)
            self._forget_key(old_user, old_key)

    def chats_of(self, user_id: int) -> set[int] | None:
        entry = self._chats.get(user_id)
        if entry is None or entry[1] <= time.monotonic():
            self.stats.misses += 1
            return None
        self._chats.move_to_end(user_id)
        self.stats.hits += 1
        return entry[0]

    def chats_put(self, user_id: int, chats: Iterable[int], *, seq: int) -> None:
        if not self._storable(user_id, seq):
            return
        self._chats[user_id] = (set(chats), time.monotonic() + self.ttl)
        self._chats.move_to_end(user_id)
        while len(self._chats) > self.max_entries:
            self._chats.popitem(last=False)

    def apply(self, events: Iterable[CacheEvent]) -> None:
        """Keeps the entries true to events just read (in feed order)."""
        for event in events:
            if event.type == REVOKED:
                for user_id in event.also_to:
                    self.forget_user(user_id)
            elif event.type in JOINS or event.type in LEAVES:
                for user_id in event.also_to:
                    self._seq += 1
                    self._changed[user_id] = self._seq
                    entry = self._chats.get(user_id)
                    if entry is not None:
                        (entry[0].add if event.type in JOINS else entry[0].discard)(event.chat_id)
        if len(self._changed) > 4 * self.max_entries:
            # Old marks matter only to reads that began before them: keep the newest.
            newest = sorted(self._changed.items(), key=lambda item: item[1])[-self.max_entries :]
            self._changed = dict(newest)

    def forget_user(self, user_id: int) -> None:
        self._seq += 1
        self._changed[user_id] = self._seq
        self.stats.invalidations += 1
        for key in self._keys_of.pop(user_id, ()):
            self._credentials.pop(key, None)
        self._chats.pop(user_id, None)

    def clear(self) -> None:
        self._seq += 1
        # Every read begun before now is stale: no user may be stored from it.
        self._credentials.clear()
        self._keys_of.clear()
        self._chats.clear()
        self._changed.clear()
        self._floor_seq = self._seq

    def _storable(self, user_id: int, seq: int) -> bool:
        """Whether a read begun at `seq` is still true: nothing about the user since."""
        return seq >= self._floor_seq and self._changed.get(user_id, -1) <= seq

    def _forget_key(self, user_id: int, key: str) -> None:
        keys = self._keys_of.get(user_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._keys_of[user_id]
