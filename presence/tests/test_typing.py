"""Typing through a real Centrifugo: members only, throttled, never in the event log or in
any channel's history; presence and join/leave of a chat's viewers."""

import asyncio
import contextlib
import threading
import time

import cent
import pytest
from centrifuge import Client, SubscriptionEventHandler
from django.db import connection

from presence.services import typing_channel
from realtime.models import CentrifugoOutbox, Event
from realtime.tokens import connection_token_issue, subscription_token_issue


class TypingViewer:
    """A centrifuge-python client on a chat's typing channel, with a subscription token."""

    def __init__(self, server, user, chat_id, *, token=None):
        self.server, self.user, self.chat_id = server, user, chat_id
        # Issued here, in the test's thread: issuing reads the database, the client's loop may not.
        self.token = token or typing_token(user, chat_id)
        self.publications, self.joins, self.leaves, self.errors = [], [], [], []
        self.subscribed = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def __exit__(self, *exc):
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.client.disconnect(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    async def _start(self):
        outer = self

        class Events(SubscriptionEventHandler):
            async def on_publication(self, ctx):
                outer.publications.append(ctx.pub.data)

            async def on_join(self, ctx):
                outer.joins.append(ctx.info.user)

            async def on_leave(self, ctx):
                outer.leaves.append(ctx.info.user)

            async def on_subscribed(self, ctx):
                outer.subscribed.set()

            async def on_unsubscribed(self, ctx):
                outer.errors.append(ctx.code)

            async def on_error(self, ctx):
                outer.errors.append(ctx.error)

        async def connection_token():
            return connection_token_issue(user=self.user)["token"]

        async def subscription_token(channel):
            return self.token

        self.client = Client(self.server.ws_url, get_token=connection_token, proxy=None)
        self.sub = self.client.new_subscription(
            typing_channel(self.chat_id), events=Events(), get_token=subscription_token
        )
        await self.client.connect()
        await self.sub.subscribe()

    def presence_users(self) -> set[str]:
        result = asyncio.run_coroutine_threadsafe(self.sub.presence(), self.loop).result(10)
        return {info.user for info in result.clients.values()}


def typing_token(user, chat_id: int) -> str:
    return subscription_token_issue(user=user, channel=typing_channel(chat_id))["token"]


def wait(predicate, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def typing_stack(centrifugo, settings):
    settings.CENTRIFUGO_API_URL = centrifugo.api_url
    settings.TYPING_THROTTLE_SECONDS = 1.0
    return centrifugo


def _outbox_rows_ever_written() -> int:
    """The outbox's id sequence: Centrifugo's consumer deletes the rows it dispatched (the
    team's own, written just before, may go while the test runs), and no deletion moves it
    back."""
    with connection.cursor() as cursor:
        cursor.execute(
            "select coalesce(pg_sequence_last_value(pg_get_serial_sequence(%s, 'id')), 0)",
            [CentrifugoOutbox._meta.db_table],
        )
        return cursor.fetchone()[0]


def test_typing_reaches_members_within_a_second_and_never_the_event_log(typing_stack, team, client_for):
    events_before, outbox_before = Event.objects.count(), _outbox_rows_ever_written()
    assert outbox_before > 0  # the team's own rows: the sequence is read, not missing
    with TypingViewer(typing_stack, team.member, team.chat.pk) as viewer:
        assert viewer.subscribed.wait(10), viewer.errors
        started = time.monotonic()
        response = client_for(team.owner).post(f"/api/chats/{team.chat.pk}/typing/")
        assert response.status_code == 202 and response.json() == {"published": True}
        assert wait(lambda: viewer.publications, timeout=5)
        assert time.monotonic() - started < 1.0
        assert viewer.publications == [
            {"type": "typing", "chat_id": team.chat.pk, "user": {"id": team.owner.pk, "username": team.owner.username}}
        ]
    assert (Event.objects.count(), _outbox_rows_ever_written()) == (events_before, outbox_before)
    # No history in the typing namespace: nothing typed is kept anywhere.
    api = typing_stack.api()
    with pytest.raises(cent.CentApiResponseError):
        api.history(cent.HistoryRequest(channel=typing_channel(team.chat.pk), limit=10))


def test_only_members_send_or_receive_typing(typing_stack, team, client_for):
    assert client_for(team.outsider).post(f"/api/chats/{team.chat.pk}/typing/").status_code == 404
    token_url = "/api/realtime/subscription-token/"
    assert client_for(team.outsider).get(token_url, {"channel": f"typing:{team.chat.pk}"}).status_code == 404
    issued = client_for(team.member).get(token_url, {"channel": f"typing:{team.chat.pk}"})
    assert issued.status_code == 200 and issued["Cache-Control"] == "no-store"
    # Without a subscription token (or with another chat's), Centrifugo refuses the channel.
    other = team.chat.pk + 1000
    forged = issued.json()["token"]
    with TypingViewer(typing_stack, team.outsider, other, token=forged) as intruder:
        assert not intruder.subscribed.wait(3)
    with TypingViewer(typing_stack, team.outsider, team.chat.pk, token=forged) as intruder:
        assert not intruder.subscribed.wait(3), "a member's token does not let another user in"


def test_typing_is_throttled_per_user(typing_stack, team, client_for):
    url = f"/api/chats/{team.chat.pk}/typing/"
    owner, member = client_for(team.owner), client_for(team.member)
    assert owner.post(url).status_code == 202
    throttled = owner.post(url)
    assert throttled.status_code == 429 and throttled["Retry-After"] == "1"
    assert member.post(url).status_code == 202, "another user is not throttled by the first"
    time.sleep(1.1)
    assert owner.post(url).status_code == 202


def test_presence_shows_a_second_viewer_arriving_and_leaving(typing_stack, team):
    with TypingViewer(typing_stack, team.member, team.chat.pk) as first:
        assert first.subscribed.wait(10)
        assert first.presence_users() == {str(team.member.pk)}
        with TypingViewer(typing_stack, team.owner, team.chat.pk) as second:
            assert second.subscribed.wait(10)
            assert wait(lambda: str(team.owner.pk) in first.joins, timeout=5)
            assert first.presence_users() == {str(team.member.pk), str(team.owner.pk)}
        assert wait(lambda: str(team.owner.pk) in first.leaves, timeout=5)
        assert first.presence_users() == {str(team.member.pk)}


def test_typing_answers_every_typist_while_centrifugo_hangs(site, site_centrifugo, make_user):
    """Centrifugo frozen (SIGSTOP: it accepts connections and never answers). Typing is sent
    off the request thread, so 80 typists at once (several times the web server's threads) are
    all answered 202 at once, and the site keeps serving; a publish on the request thread
    held one thread for its 1 s timeout each, the queued requests waited past
    REQUEST_QUEUE_TIMEOUT_MS and were refused with 503."""
    import os
    import signal

    import httpx

    from accounts.services import tokens_create
    from chats.services import chat_create

    server = site_centrifugo()
    typists = [make_user() for _ in range(80)]
    chat = chat_create(created_by=typists[0], title="typists", member_ids=[u.pk for u in typists[1:]])
    keys = tokens_create(users=typists)

    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=len(typists))
        async with httpx.AsyncClient(base_url=site.url, timeout=60, limits=limits) as http:

            async def type_(key: str) -> int:
                response = await http.post(f"/api/chats/{chat.pk}/typing/", headers={"Authorization": f"Token {key}"})
                return response.status_code

            statuses = await asyncio.gather(*(type_(keys[u.pk]) for u in typists))
            health = (await http.get("/healthz")).status_code
            return [*statuses, health]

    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        answers = asyncio.run(burst())
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    assert answers[:-1] == [202] * len(typists), {s: answers.count(s) for s in set(answers)}
    assert answers[-1] == 200


def test_a_removed_member_leaves_typing_and_presence_at_once(typing_stack, team):
    """Removal unsubscribes the member from the chat's typing channel (through the outbox,
    with the chat's own channel): no more typing or presence, not even until the token ends."""
    from chats.services import chat_member_remove

    with TypingViewer(typing_stack, team.member, team.chat.pk) as removed:
        assert removed.subscribed.wait(10), removed.errors
        chat_member_remove(chat=team.chat, user_id=team.member.pk, actor=team.owner)
        assert wait(lambda: removed.errors, timeout=10), "unsubscribed by the server"
        with TypingViewer(typing_stack, team.owner, team.chat.pk) as owner:
            assert owner.subscribed.wait(10)
            assert owner.presence_users() == {str(team.owner.pk)}
