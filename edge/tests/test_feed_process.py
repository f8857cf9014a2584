"""The feed process itself, in this process: its garbage collector once it is ready
(`edge.feed_gc`), a feed request that its client leaves (`edge.feed_front`), and the
listener's one round trip per read (`edge.listener`)."""

import asyncio
import gc
import weakref
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from accounts.services import token_create
from chats.services import message_create
from edge import feed_gc
from edge.feed_front import feed_front
from edge.feed_waiting import limiter
from edge.listener import get_listener
from realtime.models import Event


@contextmanager
def gc_restored() -> Iterator[None]:
    """This test process's collector as it was, whatever the test did to it."""
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        feed_gc.stop()
        gc.unfreeze()
        gc.set_threshold(*thresholds)


async def _django_app(scope: dict, receive: Any, send: Any) -> None:
    raise AssertionError(f"reached Django: {scope['type']}")


def test_once_ready_the_feed_process_freezes_its_start_up_and_collects_on_a_timer():
    class Node:
        other: "Node"

    async def scenario() -> None:
        app = feed_front(_django_app)
        inbox: asyncio.Queue[dict] = asyncio.Queue()
        sent: list[dict] = []
        await inbox.put({"type": "lifespan.startup"})

        async def send(message: dict) -> None:
            sent.append(message)

        lifespan = asyncio.create_task(app({"type": "lifespan"}, inbox.get, send))
        while not sent:
            await asyncio.sleep(0.01)
        assert sent == [{"type": "lifespan.startup.complete"}]
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == feed_gc.THRESHOLDS
        assert feed_gc.timer is not None
        period = settings.REALTIME_FEED_GC_FULL_COLLECT_SECONDS
        assert feed_gc.timer.when() - asyncio.get_running_loop().time() > period - 5

        # A cycle that was frozen and then dropped is reclaimed by the timer's collection.
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        gc.freeze()
        del a, b
        assert gone() is not None
        feed_gc.collect_and_freeze()
        assert gone() is None

        await inbox.put({"type": "lifespan.shutdown"})
        await lifespan
        assert sent[-1] == {"type": "lifespan.shutdown.complete"}
        assert feed_gc.timer is None

    with gc_restored():
        asyncio.run(scenario())


class FakeClient:
    """One HTTP request into the ASGI application, with a client that can go away."""

    def __init__(self, path: str, query: str, token: str) -> None:
        self.scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "query_string": query.encode(),
            "headers": [(b"authorization", f"Token {token}".encode())],
        }
        self.sent: list[dict] = []
        self._left = asyncio.Event()
        self._requested = False

    async def receive(self) -> dict:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    def leave(self) -> None:
        self._left.set()


@asynccontextmanager
async def waiting_long_poll(user: Any) -> Any:
    """A long poll at the head, in the listener's waiters; yields its client and task."""
    listener = get_listener()
    while not listener.ready:
        await asyncio.sleep(0.01)
    cursor = await sync_to_async(lambda: Event.objects.latest("id").pk)()
    token = await sync_to_async(token_create)(user=user)
    client = FakeClient("/api/updates/", f"after={cursor}&wait=30", token)
    task = asyncio.create_task(feed_front(_django_app)(client.scope, client.receive, client.send))
    try:
        for _ in range(500):
            if listener.waiting:
                break
            await asyncio.sleep(0.01)
        assert listener.waiting == 1
        yield client, task
    finally:
        task.cancel()
        await listener.close()


@pytest.mark.django_db(transaction=True)
def test_a_long_poll_its_client_leaves_ends_quietly_and_lets_go_of_everything(team):
    async def scenario() -> None:
        async with waiting_long_poll(team.member) as (client, task):
            client.leave()
            assert await asyncio.wait_for(task, 10) is None  # no error for the server to log
            assert client.sent == []
            assert get_listener().waiting == 0
            assert limiter.held(team.member.pk) == 0

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_a_long_poll_cancelled_by_the_server_is_cancelled(team):
    """The server stopping cancels the request: that goes on up, unlike a client leaving."""

    async def scenario() -> None:
        async with waiting_long_poll(team.member) as (_, task):
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
            assert get_listener().waiting == 0

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_the_listener_reads_new_events_in_one_round_trip(team, monkeypatch):
    """Woken by a NOTIFY, the listener sends its statements (the safe bound, the new rows)
    together, in one pipeline, and wakes the event's waiter with what that read brought."""
    # The listener's connection is this process's only asynchronous one (Django's are not).
    executed: list[bool] = []  # per statement: sent inside a pipeline
    pipelines = depth = 0
    pipeline, execute = psycopg.AsyncConnection.pipeline, psycopg.AsyncConnection.execute

    @asynccontextmanager
    async def counted_pipeline(self: psycopg.AsyncConnection) -> Any:
        nonlocal pipelines, depth
        pipelines += 1
        depth += 1
        try:
            async with pipeline(self) as inside:
                yield inside
        finally:
            depth -= 1

    async def recorded_execute(self: psycopg.AsyncConnection, *args: Any, **kwargs: Any) -> Any:
        executed.append(depth > 0)
        return await execute(self, *args, **kwargs)

    async def scenario() -> None:
        listener = get_listener()
        try:
            while not listener.ready:
                await asyncio.sleep(0.01)
            monkeypatch.setattr(psycopg.AsyncConnection, "pipeline", counted_pipeline)
            monkeypatch.setattr(psycopg.AsyncConnection, "execute", recorded_execute)
            with listener.waiter(team.member.pk, [team.chat.pk]) as waiter:
                await sync_to_async(message_create)(chat_id=team.chat.pk, author=team.owner, text="one read")
                assert await waiter.wait(10)
            found, _ = listener.read(waiter, after=listener.floor, limit=10)
            assert [event.envelope["data"]["text"] for event in found] == ["one read"]
        finally:
            await listener.close()
        assert executed and all(executed)
        assert pipelines == len(executed) // 2

    asyncio.run(scenario())
