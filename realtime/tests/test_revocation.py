"""Revocation: logout, password change and deactivation end what that access still receives,
at once, on every transport; removal from a chat stops that chat's delivery at once.

WebSocket against a real Centrifugo (the disconnect goes through the outbox); SSE and long
polling through the site's nginx and uvicorn (`site`), with a session made here
(`force_login`) or an API token; the logout, password change and deactivation run in this
process, through the paths the site uses (the logout view, `set_password` + `save`).
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest
from django.conf import settings
from django.test import Client

from accounts.services import token_create
from chats.services import chat_member_remove, message_create
from realtime.models import CentrifugoOutbox, Event
from realtime.services import ACCESS_REVOKED_CODE, chat_channel, user_delivery_revoke
from realtime.tokens import connection_token_issue, subscription_token_issue
from testing.centrifugo import ChannelClient

STREAM, UPDATES = "/api/updates/stream/", "/api/updates/"


def _session_cookie(user) -> tuple[Client, dict[str, str]]:
    """A signed-in browser session (committed: the site's processes see it)."""
    browser = Client()
    browser.force_login(user)
    return browser, {settings.SESSION_COOKIE_NAME: browser.cookies[settings.SESSION_COOKIE_NAME].value}


def _token_headers(user) -> dict[str, str]:
    return {"Authorization": f"Token {token_create(user=user)}"}


def _message_ids(events: list[dict]) -> list[int]:
    return [event["data"]["id"] for event in events if event["type"] == "message.created"]


@pytest.mark.django_db
def test_revocation_queues_a_disconnect_and_an_event_for_the_user_alone(make_user):
    user = make_user()
    user_delivery_revoke(user_id=user.pk, reason="logged out")
    event = Event.objects.get(type="user.revoked")
    assert (event.to_members, event.also_to, event.data) == (False, [user.pk], {"reason": "logged out"})
    disconnect = CentrifugoOutbox.objects.get(method="disconnect")
    assert disconnect.payload == {
        "user": str(user.pk),
        "disconnect": {"code": ACCESS_REVOKED_CODE, "reason": "logged out"},
    }
    # The personal-channel broadcast of the event goes out before the disconnect.
    assert CentrifugoOutbox.objects.filter(method="broadcast", pk__lt=disconnect.pk).exists()


# Each save its own transaction, as in production: a transaction revokes a user once.
@pytest.mark.django_db(transaction=True)
def test_password_change_and_deactivation_revoke_and_a_login_does_not(make_user):
    user = make_user()
    browser = Client()
    browser.force_login(user)  # last_login saved
    assert not Event.objects.filter(type="user.revoked").exists()
    user.set_password("another long passphrase")
    user.save()
    user.is_active = False
    user.save()
    user.save()  # already inactive: nothing more to revoke
    reasons = [event.data["reason"] for event in Event.objects.filter(type="user.revoked").order_by("id")]
    assert reasons == ["password changed", "deactivated"]


def _ws_client(server, user, chat) -> ChannelClient:
    channel = chat_channel(chat.pk)
    return ChannelClient(
        url=server.ws_url,
        channel=channel,
        token=lambda: connection_token_issue(user=user)["token"],
        sub_token=lambda: subscription_token_issue(user=user, channel=channel)["token"],
    )


def test_logout_disconnects_the_websocket_for_good(centrifugo, team):
    browser, _ = _session_cookie(team.member)
    with (
        _ws_client(centrifugo, team.member, team.chat) as client,
        _ws_client(centrifugo, team.admin, team.chat) as other,
    ):
        assert client.wait_for(lambda c: c.subscribed) and other.wait_for(lambda c: c.subscribed)
        started = time.monotonic()
        assert browser.post("/logout/").status_code == 302
        assert client.wait_for(lambda c: (ACCESS_REVOKED_CODE, "logged out") in c.disconnected, timeout=10)
        disconnected_after = time.monotonic() - started
        message_create(chat_id=team.chat.pk, author=team.owner, text="after the logout")
        assert other.wait_for(lambda c: c.events("message.created"))  # another user's connection stays
        time.sleep(2)  # no reconnect: the code tells the client not to
        assert not client.connected.is_set()
        assert not client.events("message.created")
    assert disconnected_after < 5, disconnected_after


def test_a_revocation_queued_while_centrifugo_is_down_is_sent_once_it_is_back(centrifugo, team):
    """The disconnect waits in the outbox and goes out when Centrifugo is back. (A client that
    reconnects after it, with a connection token it kept, is not stopped by it: see
    `user_delivery_revoke`; the token endpoint refuses it a new one.)"""
    centrifugo.stop()
    user_delivery_revoke(user_id=team.member.pk, reason="deactivated")
    assert CentrifugoOutbox.objects.filter(method="disconnect").exists()
    centrifugo.start()
    deadline = time.monotonic() + 20
    while CentrifugoOutbox.objects.filter(method="disconnect").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not CentrifugoOutbox.objects.filter(method="disconnect").exists()


def test_logout_ends_the_sse_stream_of_that_session_and_not_of_another_device(site, team):
    browser, cookies = _session_cookie(team.member)
    other_device = _token_headers(team.member)

    async def scenario() -> float:
        async with (
            httpx.AsyncClient(base_url=site.url, timeout=20) as http,
            http.stream("GET", STREAM, cookies=cookies) as revoked,
            http.stream("GET", STREAM, headers=other_device) as kept,
        ):
            assert revoked.status_code == kept.status_code == 200
            lines, kept_lines = revoked.aiter_lines(), kept.aiter_lines()
            assert (await anext(lines)).startswith("retry:")
            await asyncio.sleep(0.5)
            started = time.monotonic()
            response = await asyncio.to_thread(browser.post, "/logout/")
            assert response.status_code == 302
            async for line in lines:  # until the server ends the stream
                assert not line.startswith("data:"), line
            ended_after = time.monotonic() - started
            message = await asyncio.to_thread(message_create, chat_id=team.chat.pk, author=team.owner, text="hi")
            async for line in kept_lines:
                assert "user.revoked" not in line
                if line.startswith("data:"):
                    assert httpx.Response(200, content=line[5:]).json()["data"]["id"] == message[0].pk
                    break
            return ended_after

    assert asyncio.run(scenario()) < 3


def _long_poll_ended_by(
    site, action: Callable[[httpx.AsyncClient], Awaitable[object]], **client: dict[str, str]
) -> tuple[httpx.Response, float]:
    """A long poll waiting 20 s (as the client `client` makes it: its headers or cookies),
    `action` 1 s in; the poll's answer and how long after the action it came."""

    async def scenario() -> tuple[httpx.Response, float]:
        async with httpx.AsyncClient(base_url=site.url, timeout=30, **client) as http:
            cursor = (await http.get(UPDATES)).json()["cursor"]
            waiting = asyncio.create_task(http.get(UPDATES, params={"after": cursor, "wait": 20}))
            await asyncio.sleep(1)
            started = time.monotonic()
            await action(http)
            response = await waiting
            return response, time.monotonic() - started

    return asyncio.run(scenario())


def test_deactivation_answers_a_waiting_long_poll_401_at_once(site, team):
    def deactivate(http: httpx.AsyncClient) -> Awaitable[None]:
        team.member.is_active = False
        return asyncio.to_thread(team.member.save)

    response, elapsed = _long_poll_ended_by(site, deactivate, headers=_token_headers(team.member))
    assert response.status_code == 401 and set(response.json()) == {"message", "extra"}, response.text
    assert elapsed < 3, elapsed


def test_password_change_ends_a_waiting_long_poll_of_an_old_session(site, team):
    _, cookies = _session_cookie(team.member)

    def password_change(http: httpx.AsyncClient) -> Awaitable[None]:
        team.member.set_password("a brand new passphrase")
        return asyncio.to_thread(team.member.save)

    response, elapsed = _long_poll_ended_by(site, password_change, cookies=cookies)
    assert response.status_code == 401, response.text
    assert elapsed < 5, elapsed


def test_removal_from_a_chat_stops_its_sse_and_long_poll_delivery_at_once(site, team):
    headers = _token_headers(team.member)

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=site.url, timeout=20) as http:
            cursor = (await http.get(UPDATES, headers=headers)).json()["cursor"]
            async with http.stream("GET", STREAM, headers=headers) as stream:
                lines = stream.aiter_lines()
                await asyncio.sleep(0.5)
                await asyncio.to_thread(chat_member_remove, chat=team.chat, user_id=team.member.pk, actor=team.owner)
                await asyncio.to_thread(message_create, chat_id=team.chat.pk, author=team.owner, text="not for you")
                seen = []
                deadline = time.monotonic() + 4  # the test server's heartbeat is 1 s
                async for line in lines:
                    if line.startswith("data:"):
                        seen.append(httpx.Response(200, content=line[5:]).json()["type"])
                    if time.monotonic() > deadline:
                        break
                assert seen == ["member.removed"], seen
            page = (await http.get(UPDATES, params={"after": cursor, "wait": 2}, headers=headers)).json()
            assert [event["type"] for event in page["events"]] == ["member.removed"]
            assert not _message_ids(page["events"])

    asyncio.run(scenario())


def test_api_logout_answers_that_tokens_waiting_long_poll_401_at_once(site, team):
    async def logout(http: httpx.AsyncClient) -> None:
        assert (await http.post("/api/auth/logout/")).status_code == 204

    response, elapsed = _long_poll_ended_by(site, logout, headers=_token_headers(team.member))
    assert response.status_code == 401, response.text
    assert elapsed < 3, elapsed
