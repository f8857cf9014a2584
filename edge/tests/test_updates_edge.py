"""The feed at the edge: a long poll at the head costs no SQL; streams per account are
limited; a WebSocket event id is a safe cursor; a cursor far behind is 410; the database
breaker is not opened by a busy pool and never wedged by a cancelled request."""

import asyncio
import threading

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import OperationalError, connections, transaction
from django.test import Client, override_settings
from psycopg_pool import PoolTimeout

from accounts.services import token_create
from chats.services import chat_create, message_create
from core.breaker import breaker, database_unreachable
from edge.feed_waiting import Credentials, DatabaseProbe, long_poll
from realtime.models import Event

UPDATES, STREAM = "/api/updates/", "/api/updates/stream/"


def _token_headers(user) -> dict[str, str]:
    return {"Authorization": f"Token {token_create(user=user)}"}


def _session_cookies(user) -> dict[str, str]:
    browser = Client()
    browser.force_login(user)
    return {settings.SESSION_COOKIE_NAME: browser.cookies[settings.SESSION_COOKIE_NAME].value}


def _texts(events: list[dict]) -> list[str]:
    return [event["data"]["text"] for event in events if event["type"] == "message.created"]


@pytest.mark.parametrize("credentials", ["token", "session"])
def test_a_long_poll_at_the_head_runs_no_sql_in_the_feed_process(site, team, credentials):
    if credentials == "token":
        auth = {"headers": _token_headers(team.member)}
    else:
        auth = {"cookies": _session_cookies(team.member)}

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=site.url, timeout=30, **auth) as http:
            cursor = (await http.get(UPDATES)).json()["cursor"]
            # The first long polls read who the reader is and their chats (a miss), once.
            for _ in range(2):
                warm = await http.get(UPDATES, params={"after": cursor, "wait": 0.2})
                assert warm.status_code == 200 and warm.json()["events"] == [], warm.text
            before = int(warm.headers["X-Feed-Statements"])
            waiting = asyncio.create_task(http.get(UPDATES, params={"after": cursor, "wait": 20}))
            await asyncio.sleep(0.5)
            await sync_to_async(message_create)(chat_id=team.chat.pk, author=team.owner, text="from memory")
            answer = await waiting
            assert answer.status_code == 200, answer.text
            assert _texts(answer.json()["events"]) == ["from memory"]
            # Authentication, the chats and the event: all from the feed process's memory.
            assert int(answer.headers["X-Feed-Statements"]) == before
            # And the next poll at the new head too.
            again = await http.get(UPDATES, params={"after": answer.json()["cursor"], "wait": 0.2})
            assert again.json()["events"] == [] and int(again.headers["X-Feed-Statements"]) == before

    asyncio.run(scenario())


def test_an_sse_resume_at_the_head_runs_no_sql_in_the_feed_process(site, team):
    headers = _token_headers(team.member)

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=site.url, timeout=30, headers=headers) as http:
            cursor = (await http.get(UPDATES)).json()["cursor"]
            for _ in range(2):  # who the reader is and their chats: read once
                warm = await http.get(UPDATES, params={"after": cursor, "wait": 0.2})
            before = int(warm.headers["X-Feed-Statements"])
            async with http.stream("GET", STREAM, headers={"Last-Event-ID": str(cursor)}) as stream:
                assert stream.status_code == 200
                assert int(stream.headers["X-Feed-Statements"]) == before
                lines = stream.aiter_lines()
                assert (await anext(lines)).startswith("retry:")
                await sync_to_async(message_create)(chat_id=team.chat.pk, author=team.owner, text="streamed")
                async for line in lines:
                    if line.startswith("data:"):
                        assert httpx.Response(200, content=line[5:]).json()["data"]["text"] == "streamed"
                        break
            after = await http.get(UPDATES, params={"after": cursor, "wait": 0.2})
            assert int(after.headers["X-Feed-Statements"]) == before

    asyncio.run(scenario())


def test_a_logout_still_ends_a_long_poll_answered_from_memory(site, team):
    """The cached token is forgotten with the revocation: the next poll is refused."""
    headers = _token_headers(team.member)

    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(base_url=site.url, timeout=30, headers=headers) as http:
            cursor = (await http.get(UPDATES)).json()["cursor"]
            await http.get(UPDATES, params={"after": cursor, "wait": 0.2})  # now cached
            waiting = asyncio.create_task(http.get(UPDATES, params={"after": cursor, "wait": 20}))
            await asyncio.sleep(0.5)
            assert (await http.post("/api/auth/logout/")).status_code == 204
            first = await waiting
            second = await http.get(UPDATES, params={"after": cursor, "wait": 1})
            return first, second

    first, second = asyncio.run(scenario())
    assert first.status_code == second.status_code == 401, (first.text, second.text)


def test_streams_per_account_are_limited_and_others_are_not_affected(site, team):
    limit = settings.REALTIME_FEED_STREAMS_PER_USER
    member, admin = _token_headers(team.member), _token_headers(team.admin)

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=site.url, timeout=30, limits=httpx.Limits(max_connections=50)) as http:
            cursor = (await http.get(UPDATES, headers=member)).json()["cursor"]
            params = {"after": cursor, "wait": 20}
            held = [asyncio.create_task(http.get(UPDATES, params=params, headers=member)) for _ in range(limit)]
            await asyncio.sleep(1.5)
            refused = await http.get(UPDATES, params=params, headers=member)
            assert refused.status_code == 429, refused.text
            assert int(refused.headers["Retry-After"]) > 0
            assert set(refused.json()) == {"message", "extra"}
            async with http.stream("GET", STREAM, headers=member) as stream:
                assert stream.status_code == 429
            other = await http.get(UPDATES, params={"after": cursor, "wait": 0.2}, headers=admin)
            assert other.status_code == 200, other.text
            assert not any(task.done() for task in held)
            for task in held:
                task.cancel()
            await asyncio.gather(*held, return_exceptions=True)

    asyncio.run(scenario())


def test_a_websocket_event_id_is_a_safe_cursor(site, team):
    """T1 inserts event 5 and stays open; T2 inserts event 6 and commits; a client that saw 6
    (over WebSocket) polls ?after=6; when T1 commits, the client gets 5."""
    inserted, release = threading.Event(), threading.Event()
    # Another chat of the member: posts to one chat take its row's lock one after the other.
    other_chat = chat_create(created_by=team.owner, title="other", member_ids=[team.member.pk])
    headers = _token_headers(team.member)

    def first_transaction() -> None:
        try:
            with transaction.atomic():
                message_create(chat_id=team.chat.pk, author=team.owner, text="five")
                inserted.set()
                release.wait(20)
        finally:
            connections.close_all()

    async def scenario() -> list[str]:
        t1 = threading.Thread(target=first_transaction)
        t1.start()
        try:
            assert await asyncio.to_thread(inserted.wait, 10)
            await sync_to_async(message_create, thread_sensitive=False)(
                chat_id=other_chat.pk, author=team.owner, text="six"
            )
            six = await sync_to_async(lambda: Event.objects.filter(type="message.created").latest("id").pk)()
            async with httpx.AsyncClient(base_url=site.url, timeout=30, headers=headers) as http:
                waiting = asyncio.create_task(http.get(UPDATES, params={"after": six, "wait": 20}))
                await asyncio.sleep(1)
                release.set()
                page = (await waiting).json()
                texts = _texts(page["events"])
                # Resuming from the answer's cursor repeats nothing.
                more = await http.get(UPDATES, params={"after": page["cursor"], "wait": 0.5})
                assert _texts(more.json()["events"]) == []
                return texts
        finally:
            release.set()
            await asyncio.to_thread(t1.join)

    texts = asyncio.run(scenario())
    assert "five" in texts, texts


@pytest.mark.django_db(transaction=True)
def test_a_cursor_far_behind_the_head_is_410_with_a_reload_hint(team, client_for):
    client = client_for(team.member)
    start = client.get(UPDATES).json()["cursor"]
    for number in range(3):
        message_create(chat_id=team.chat.pk, author=team.owner, text=f"m{number}")
    with override_settings(REALTIME_FEED_MAX_BEHIND=2):
        response = client.get(UPDATES, {"after": start})
    assert response.status_code == 410
    assert "REST" in response.json()["message"] and response.json()["extra"]["max_behind"] == 2
    assert client.get(UPDATES, {"after": start}).status_code == 200


def test_a_busy_pool_does_not_open_the_breaker_and_a_dead_server_does():
    busy = OperationalError("couldn't get a connection after 1.00 sec")
    busy.__cause__ = PoolTimeout("couldn't get a connection after 1.00 sec")
    assert not database_unreachable(busy)
    import psycopg

    dead = OperationalError("connection refused")
    dead.__cause__ = psycopg.OperationalError("connection refused")
    assert database_unreachable(dead)


@pytest.mark.django_db(transaction=True)
@override_settings(DB_UNAVAILABLE_HOLD_SECONDS=0, DB_PROBE_LEASE_SECONDS=3600)
def test_a_cancelled_probe_does_not_wedge_the_breaker(team):
    """The probe's client goes away while its request is in the database call: the request is
    cancelled, and the next request may probe at once (the lease is an hour here)."""
    credentials = Credentials(token=token_create(user=team.member))

    async def scenario() -> None:
        breaker.failed()
        assert breaker.admit() == "probe"
        probe = DatabaseProbe(is_probe=True)
        assert breaker.admit() == "open"  # one probe at a time
        task = asyncio.create_task(long_poll(None, credentials, after=None, wait=0, limit=10, probe=probe))
        await asyncio.sleep(0)  # in its database call
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert breaker.admit() == "probe"
        breaker.succeeded()
        assert breaker.admit() == "closed"

    try:
        asyncio.run(scenario())
    finally:
        breaker.succeeded()


@pytest.mark.django_db(transaction=True)
@override_settings(DB_UNAVAILABLE_HOLD_SECONDS=0, DB_PROBE_LEASE_SECONDS=3600)
def test_a_waiting_long_poll_is_not_the_probe(team):
    """The probe reports as soon as its database call succeeds: while it then waits for
    events, the breaker is closed for everyone."""
    credentials = Credentials(token=token_create(user=team.member))
    cursor = Event.objects.latest("id").pk

    async def scenario() -> None:
        breaker.failed()
        assert breaker.admit() == "probe"
        probe = DatabaseProbe(is_probe=True)
        task = asyncio.create_task(long_poll(None, credentials, after=cursor, wait=30, limit=10, probe=probe))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if not probe.pending:
                break
        assert not task.done()
        assert breaker.admit() == "closed"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert breaker.admit() == "closed"

    try:
        asyncio.run(scenario())
    finally:
        breaker.succeeded()
