"""Long polling and SSE through the site's nginx to its uvicorn, on the test database
(`site`, testing.site.SiteServer): events from REST writes arrive, each client gets only its
own, waiting clients hold no database connection, and an SSE reconnect with Last-Event-ID
loses and repeats nothing."""

import asyncio
import resource
import time

import httpx
import psycopg
import pytest
from django.conf import settings

from accounts.services import token_create
from chats.models import Membership
from core.database import database_conninfo

UPDATES, STREAM = "/api/updates/", "/api/updates/stream/"


def _headers(user) -> dict[str, str]:
    return {"Authorization": f"Token {token_create(user=user)}"}


def _post_message(client, chat, text: str) -> dict:
    response = client.post(f"/api/chats/{chat.pk}/messages/", {"text": text}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _server_backends(conninfo: dict, server) -> int:
    """The server's connections to the test database (it names them), its listener's included."""
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        return conn.execute(
            "select count(*) from pg_stat_activity where datname = current_database()"
            " and application_name in (%s, %s || '/listener')",
            [server.application_name, server.application_name],
        ).fetchone()[0]


def _established(port: int) -> int:
    """TCP connections accepted on the server's port (from /proc/net/tcp)."""
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[1].endswith(f":{port:04X}") and row[3] == "01")


def _threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(status.read().split("Threads:")[1].split()[0])


class SSEReader:
    """Parses a text/event-stream: events as (id, data) and comment lines."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next_event(self) -> tuple[int, str]:
        event_id, data = None, []
        async for line in self.lines:
            if line.startswith(":"):
                self.comments.append(line)
            elif line.startswith("id:"):
                event_id = int(line[3:].strip())
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line and data:
                return event_id, "\n".join(data)
        raise AssertionError("the stream ended")


def test_long_poll_returns_on_an_event_only_to_its_recipients_and_empty_at_timeout(site, team, client_for):
    member, outsider = _headers(team.member), _headers(team.outsider)
    owner = client_for(team.owner)

    async def scenario():
        # A wake-up that never comes makes the 30 s long poll outlast this client's timeout.
        async with httpx.AsyncClient(base_url=site.url, timeout=20) as http:
            start = (await http.get(UPDATES, headers=member)).json()["cursor"]
            waiting = asyncio.create_task(http.get(UPDATES, params={"after": start, "wait": 30}, headers=member))
            other = asyncio.create_task(http.get(UPDATES, params={"after": start, "wait": 2}, headers=outsider))
            await asyncio.sleep(0.5)
            message = await asyncio.to_thread(_post_message, owner, team.chat, "ping")
            page = (await waiting).json()
            assert [(event["type"], event["data"]) for event in page["events"]] == [("message.created", message)]
            assert (await other).json()["events"] == []
            empty = await http.get(UPDATES, params={"after": page["cursor"], "wait": 1}, headers=member)
            assert empty.json() == {"events": [], "cursor": page["cursor"]}
            gone = await http.get(UPDATES, params={"after": page["cursor"] + 10_000, "wait": 1}, headers=member)
            assert gone.status_code == 410

    asyncio.run(scenario())


def test_sse_delivers_rest_writes_and_resumes_from_last_event_id(site, team, client_for):
    member = _headers(team.member)
    owner = client_for(team.owner)

    async def scenario():
        async with httpx.AsyncClient(base_url=site.url, timeout=20) as http:
            async with http.stream("GET", STREAM, headers=member) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                reader = SSEReader(response)
                sent = []
                for number in range(3):
                    sent.append(await asyncio.to_thread(_post_message, owner, team.chat, f"sse {number}"))
                received = [await reader.next_event() for _ in sent]
            assert [httpx.Response(200, content=data).json()["data"] for _, data in received] == sent
            assert [event_id for event_id, _ in received] == sorted(event_id for event_id, _ in received)

            # Reconnect as EventSource does after losing the stream after the first event.
            resume = {**member, "Last-Event-ID": str(received[0][0])}
            async with http.stream("GET", STREAM, headers=resume) as response:
                reader = SSEReader(response)
                again = [await reader.next_event() for _ in range(2)]
                assert again == received[1:]
                # Nothing more: only heartbeats (every second in the test server).
                async for line in reader.lines:
                    assert not line.startswith("data:"), f"an event came twice: {line}"
                    if line.startswith(":"):
                        assert line == ": heartbeat"
                        break

    asyncio.run(scenario())


@pytest.mark.slow
def test_waiting_long_poll_clients_hold_no_database_connection_and_no_thread(site, team, client_for, make_user):
    clients = 500
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    # As many members as the per-account limit of waiting requests needs.
    per_user = settings.REALTIME_FEED_STREAMS_PER_USER
    readers = [make_user() for _ in range(-(-clients // per_user))]
    Membership.objects.bulk_create([Membership(chat=team.chat, user=user) for user in readers])
    headers = [_headers(user) for user in readers]
    member = headers[0]
    owner = client_for(team.owner)
    conninfo = database_conninfo()

    async def scenario():
        limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
        async with httpx.AsyncClient(base_url=site.url, timeout=90, limits=limits) as http:
            start = (await http.get(UPDATES, headers=member)).json()["cursor"]
            params = {"after": start, "wait": 60}
            polls = [
                asyncio.create_task(http.get(UPDATES, params=params, headers=headers[number // per_user]))
                for number in range(clients)
            ]
            # Until the server has accepted every client and no request is between its
            # authentication and its wait any more: the database connections settle.
            settled, samples, deadline = 0, [], time.monotonic() + 45
            while settled < 5 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                backends = await asyncio.to_thread(_server_backends, conninfo, site.feed)
                accepted = _established(site.feed.port)
                samples.append((accepted, backends))
                settled = settled + 1 if accepted >= clients and backends <= 1 else 0
            assert settled == 5, samples[-10:]
            assert not any(poll.done() for poll in polls)
            # Nor a thread each: the process has its few pool threads, not one per client.
            assert _threads(site.feed.process.pid) < clients // 10
            # The one connection left is the process's listener.
            assert await asyncio.to_thread(_server_backends, conninfo, site.feed) == 1
            message = await asyncio.to_thread(_post_message, owner, team.chat, "wake up, all of you")
            pages = [response.json() for response in await asyncio.gather(*polls)]
            assert all([event["data"] for event in page["events"]] == [message] for page in pages)

    asyncio.run(scenario())


def _listener_backends(conninfo: dict, server, *, terminate: bool = False) -> int:
    """The server's listener connection (named `<server>/listener`): counted, or ended."""
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        return conn.execute(
            f"select count({'pg_terminate_backend(pid)' if terminate else '*'}) from pg_stat_activity"  # noqa: S608
            " where datname = current_database() and application_name = %s",
            [f"{server.application_name}/listener"],
        ).fetchone()[0]


def test_waiting_clients_get_events_across_a_listener_reconnect(site, team, client_for):
    member = _headers(team.member)
    owner = client_for(team.owner)
    conninfo = database_conninfo()

    async def until_listening() -> None:
        while await asyncio.to_thread(_listener_backends, conninfo, site.feed) != 1:
            await asyncio.sleep(0.1)

    async def scenario():
        async with httpx.AsyncClient(base_url=site.url, timeout=25) as http:
            cursor = (await http.get(UPDATES, headers=member)).json()["cursor"]
            for round_ in range(2):
                waiting = asyncio.create_task(http.get(UPDATES, params={"after": cursor, "wait": 30}, headers=member))
                await asyncio.wait_for(until_listening(), timeout=20)
                if round_ == 0:
                    # The listener's connection dies (a PostgreSQL restart, a failover).
                    assert await asyncio.to_thread(_listener_backends, conninfo, site.feed, terminate=True) == 1
                message = await asyncio.to_thread(_post_message, owner, team.chat, f"round {round_}")
                page = (await waiting).json()
                assert [event["data"] for event in page["events"]] == [message]
                cursor = page["cursor"]

    asyncio.run(scenario())
