"""The feed process itself, in this process: the listener's one round trip per read
(`edge.listener`)."""

import asyncio
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import pytest
from asgiref.sync import sync_to_async

from chats.services import message_create
from edge.listener import get_listener


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
