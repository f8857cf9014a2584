"""Typing and presence: ephemeral, straight to Centrifugo, never in the event log.

Each chat has a channel `typing:<chat id>` in a namespace without history (so nothing typed
is stored, not even by Centrifugo) and with presence and join/leave: the chat page
subscribes to its chat's channel with a subscription token from
`/api/realtime/subscription-token/?channel=typing:<id>` (members only), hears who types
and sees who else has the chat open. Join/leave goes to the viewers of one chat, not to
every member of it: a page open on a chat of 10,000 members costs what its viewers cost.
"""

import logging
import os
import queue
import threading
import time
from typing import Any, TypedDict

import redis
from django.conf import settings
from django.db import connection

from accounts.models import User
from chats.models import Membership
from core.exceptions import ApplicationError, NotFoundError
from realtime.services import typing_channel

logger = logging.getLogger(__name__)

# One Redis client per process for the throttle (made on first use).
_redis: redis.Redis | None = None


class TypingThrottledError(ApplicationError):
    status_code = 429


class TypingPublication(TypedDict):
    """What a `typing:<id>` subscriber receives (Centrifugo publication data)."""

    type: str  # always "typing"
    chat_id: int
    user: dict  # {"id": int, "username": str}


def _member_check(*, chat_id: int, user: User) -> None:
    if not Membership.objects.filter(chat_id=chat_id, user=user).exists():
        raise NotFoundError("Chat not found.")


def _throttle_client() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    return _redis


def _throttle_pass(*, chat_id: int, user_id: int) -> bool:
    """True at most once per TYPING_THROTTLE_SECONDS for one user in one chat, across every
    web process (one Redis SET NX PX). The key names the database, so test runs and a
    `make run` sharing one Redis never throttle each other."""
    key = f"{connection.settings_dict['NAME']}:typing:{chat_id}:{user_id}"
    try:
        return bool(_throttle_client().set(key, 1, nx=True, px=int(settings.TYPING_THROTTLE_SECONDS * 1000)))
    except redis.RedisError:
        logger.warning("typing throttle: Redis unavailable; letting it through")
        return True


def typing_publish(*, chat_id: int, user: User) -> bool:
    """Tells the chat's viewers that `user` is typing; returns whether the publication was
    accepted (it is sent in the background, never on the request's thread).

    Members only (404 otherwise); one publication per TYPING_THROTTLE_SECONDS per user and
    chat (429 past it). Ephemeral by design: when Centrifugo is down or hangs the signal is
    dropped (logged), never kept, since "typing" seconds late is wrong.
    """
    _member_check(chat_id=chat_id, user=user)
    if not _throttle_pass(chat_id=chat_id, user_id=user.pk):
        raise TypingThrottledError("Typing is already announced; send it again in a moment.")
    data: TypingPublication = {
        "type": "typing",
        "chat_id": chat_id,
        "user": {"id": user.pk, "username": user.get_username()},
    }
    return _publisher.submit(channel=typing_channel(chat_id), data=data)


# Publications waiting for the background thread, per process; past this they are dropped.
_QUEUE_SIZE = 256
# A typing signal older than this is not sent: "X is typing" seconds late is wrong.
_STALE_SECONDS = 2.0


class _BackgroundPublisher:
    """One thread per process that sends typing publications to Centrifugo, so a request
    never waits for Centrifugo: a hanging or stopped Centrifugo holds this thread (1 s per
    publication at most, then the signal is dropped) and none of the WSGI server's. The queue is
    bounded and a publication that waited too long is dropped: typing is ephemeral.

    Started on first use in each process (never at import: a server may fork after it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self._queue: queue.Queue[tuple[float, str, str, str, dict[str, Any]]] = queue.Queue(_QUEUE_SIZE)

    def submit(self, *, channel: str, data: dict[str, Any]) -> bool:
        """Queues a publication; False when the queue is full (dropped, logged)."""
        self._started()
        item = (time.monotonic(), settings.CENTRIFUGO_API_URL, settings.CENTRIFUGO_HTTP_API_KEY, channel, data)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            logger.warning("typing publish to %s dropped: %d publications already wait", channel, _QUEUE_SIZE)
            return False
        return True

    def _started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():  # first use in this process (or in a forked child)
                self._queue = queue.Queue(_QUEUE_SIZE)
                threading.Thread(target=self._run, args=(self._queue,), name="typing-publisher", daemon=True).start()
                self._pid = os.getpid()

    @staticmethod
    def _run(items: "queue.Queue[tuple[float, str, str, str, dict[str, Any]]]") -> None:
        import cent  # imported when first used: web processes that never publish typing skip it

        clients: dict[tuple[str, str], cent.Client] = {}
        while True:
            queued_at, url, api_key, channel, data = items.get()
            if time.monotonic() - queued_at > _STALE_SECONDS:
                logger.warning("typing publish to %s dropped: stale", channel)
                continue
            client = clients.get((url, api_key))
            if client is None:
                client = clients[(url, api_key)] = cent.Client(url, api_key=api_key, timeout=1)
            try:
                client.publish(cent.PublishRequest(channel=channel, data=data))
            except Exception as exc:  # noqa: BLE001 - never let the thread die: the next signal must go
                logger.warning("typing publish to %s failed: %r", channel, exc)


_publisher = _BackgroundPublisher()
