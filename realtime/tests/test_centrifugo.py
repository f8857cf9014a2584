"""Delivery through a real Centrifugo: the outbox consumer reads the test database, and
centrifuge-python clients connect with the tokens Django signs."""

from datetime import UTC, datetime, timedelta

import cent
import httpx
import jwt
import pytest
import websockets
import websockets.sync.client
from django.db import connection

from chats.services import chat_create, chat_member_remove, message_create
from ops.centrifugo import outbox_overrides
from realtime.models import CentrifugoOutbox
from realtime.services import chat_channel, personal_channel
from realtime.tokens import connection_token_issue, subscription_token_issue
from testing.centrifugo import ChannelClient
from testing.processes import wait_until


def client_of(server, user, chat=None, channel=None, **kwargs) -> ChannelClient:
    """A client of `user` on the chat's channel (with a subscription token), or on `channel`."""
    if chat is not None:
        channel = chat_channel(chat.pk)
        kwargs["sub_token"] = lambda: subscription_token_issue(user=user, channel=channel)["token"]
    return ChannelClient(
        url=server.ws_url,
        channel=channel or personal_channel(user.pk),
        token=lambda: connection_token_issue(user=user)["token"],
        **kwargs,
    )


def test_member_receives_message_created_and_outsider_nothing(centrifugo, team, client_for):
    # The outsider listens where they may: their own channel.
    with client_of(centrifugo, team.member, chat=team.chat) as member, client_of(centrifugo, team.outsider) as outsider:
        assert member.wait_for(lambda c: c.subscribed) and outsider.wait_for(lambda c: c.subscribed)
        response = client_for(team.owner).post(f"/api/chats/{team.chat.pk}/messages/", {"text": "hi"}, format="json")
        assert response.status_code == 201
        assert member.wait_for(lambda c: c.events("message.created"))
        [event] = member.events("message.created")
        assert event["chat_id"] == team.chat.pk
        assert event["data"] == response.json()  # the event and the REST answer agree
        assert set(event) == {"type", "chat_id", "id", "data", "ts"}
        # The outsider's client is connected and subscribed, and still hears nothing.
        assert not outsider.wait_for(lambda c: c.publications, timeout=1)


def test_a_node_that_only_polls_the_outbox_still_publishes(centrifugo_factory, team, client_for):
    """A machine's nodes after the first are not woken by NOTIFY (ops.centrifugo.
    outbox_overrides): while node 0 is down, one of them publishes each message within its
    poll interval. This one has no LISTEN connection, and its client still gets the message."""
    server = centrifugo_factory(outbox=outbox_overrides(1))

    def listening() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "select count(*) from pg_stat_activity where datname = current_database() and query ilike 'listen %'"
            )
            return cursor.fetchone()[0]

    with client_of(server, team.member, chat=team.chat) as member:
        assert member.wait_for(lambda c: c.subscribed)
        assert listening() == 0
        response = client_for(team.owner).post(f"/api/chats/{team.chat.pk}/messages/", {"text": "hi"}, format="json")
        assert response.status_code == 201
        assert member.wait_for(lambda c: c.events("message.created"), timeout=5)
    server.stop()
    centrifugo_factory()  # node 0: woken by NOTIFY, on its own LISTEN connection
    assert wait_until(listening, timeout=10, what="node 0's LISTEN connection")


def test_a_repeated_outbox_row_reaches_the_client_once(centrifugo, team, client_for):
    """The consumer is at-least-once (a crash between broadcast and delete repeats a row);
    the idempotency key makes Centrifugo drop the repeat."""
    poster = client_for(team.owner)
    url = f"/api/chats/{team.chat.pk}/messages/"
    with client_of(centrifugo, team.member, chat=team.chat) as member:
        assert member.wait_for(lambda c: c.subscribed)
        poster.post(url, {"text": "once"}, format="json")
        assert member.wait_for(lambda c: c.events("message.created"))
        [first] = member.events("message.created")
        # The retry of that publication, as the consumer would send it again.
        CentrifugoOutbox.objects.create(
            method="publish",
            payload={"channel": chat_channel(team.chat.pk), "data": first, "idempotency_key": f"event-{first['id']}"},
        )
        poster.post(url, {"text": "twice?"}, format="json")  # dispatched after the retry
        assert member.wait_for(lambda c: len(c.events("message.created")) >= 2)
        assert not member.wait_for(lambda c: len(c.events("message.created")) > 2, timeout=1)
        assert [e["data"]["text"] for e in member.events("message.created")] == ["once", "twice?"]


def test_a_chat_channel_needs_a_subscription_token_for_that_chat_and_user(centrifugo, team, make_user):
    other_chat = chat_create(created_by=team.outsider, title="elsewhere")
    channel = chat_channel(team.chat.pk)
    for token in (
        lambda: "",  # none
        lambda: subscription_token_issue(user=team.outsider, channel=chat_channel(other_chat.pk))["token"],
        lambda: subscription_token_issue(user=team.member, channel=channel)["token"],  # someone else's
    ):
        with ChannelClient(
            url=centrifugo.ws_url,
            channel=channel,
            token=lambda: connection_token_issue(user=team.outsider)["token"],
            sub_token=token,
        ) as intruder:
            # No token: unsubscribed as unauthorized; a token not theirs: disconnected (3500).
            assert intruder.wait_for(lambda c: c.unsubscribed or c.disconnected)
            assert not intruder.subscribed


def test_subscription_token_api_is_for_members_only(team, client_for, settings):
    url = "/api/realtime/subscription-token/"
    response = client_for(team.member).get(url, {"channel": f"chat:{team.chat.pk}"})
    assert response.status_code == 200
    claims = jwt.decode(response.json()["token"], settings.CENTRIFUGO_TOKEN_HMAC_SECRET, algorithms=["HS256"])
    assert claims["sub"] == str(team.member.pk) and claims["channel"] == f"chat:{team.chat.pk}"
    assert 0 < claims["exp"] - datetime.now(tz=UTC).timestamp() <= 15 * 60
    assert client_for(team.outsider).get(url, {"channel": f"chat:{team.chat.pk}"}).status_code == 404
    for bad in ("personal:#1", "chat:0", "chat:x", "chat:99999999999999999999", ""):
        assert client_for(team.member).get(url, {"channel": bad}).status_code == 400, bad


def test_a_removed_member_is_unsubscribed_from_the_chat_channel_at_once(centrifugo, team):
    with client_of(centrifugo, team.member, chat=team.chat) as member:
        assert member.wait_for(lambda c: c.subscribed)
        chat_member_remove(chat=team.chat, user_id=team.member.pk, actor=team.owner)
        assert member.wait_for(lambda c: c.unsubscribed)
        message_create(chat_id=team.chat.pk, author=team.owner, text="after you left")
        assert not member.wait_for(lambda c: c.events("message.created"), timeout=1)


def test_personal_channel_of_another_user_is_refused(centrifugo, team):
    with client_of(centrifugo, team.outsider, channel=personal_channel(team.member.pk)) as intruder:
        assert intruder.wait_for(lambda c: c.unsubscribed)
        assert not intruder.subscribed
        code, _reason = intruder.unsubscribed[0]
        assert code == 103  # permission denied


def test_expired_token_is_refused(centrifugo, team):
    expired = connection_token_issue(user=team.member, now=datetime.now(tz=UTC) - timedelta(hours=1))["token"]
    with ChannelClient(url=centrifugo.ws_url, channel=personal_channel(team.member.pk), token=lambda: expired) as c:
        assert c.wait_for(lambda c: any(getattr(e.error, "code", None) == 109 for e in c.errors))  # token expired
        assert not c.connected.is_set()
        assert not c.subscribed


def test_client_refreshes_its_token_before_expiry_and_stays_connected(centrifugo, team, client_for, settings):
    settings.CENTRIFUGO_TOKEN_TTL_SECONDS = 2
    issued = []

    def token() -> str:
        issued.append(connection_token_issue(user=team.member)["token"])
        return issued[-1]

    channel = chat_channel(team.chat.pk)
    with ChannelClient(
        url=centrifugo.ws_url,
        channel=channel,
        token=token,
        sub_token=lambda: subscription_token_issue(user=team.member, channel=channel)["token"],
    ) as client:
        assert client.wait_for(lambda c: c.subscribed)
        assert client.wait_for(lambda c: len(issued) >= 3, timeout=10)  # refreshed, more than once
        client_for(team.owner).post(f"/api/chats/{team.chat.pk}/messages/", {"text": "still here"}, format="json")
        assert client.wait_for(lambda c: c.events("message.created"))
        assert not client.disconnected


def test_health_metrics_and_admin_only_on_the_internal_port_admin_behind_its_password(centrifugo, settings):
    # The client port, which nginx proxies, has WebSockets and nothing else.
    client_port = f"http://127.0.0.1:{centrifugo.port}"
    for path in ("/health", "/metrics", "/api/info", "/admin/auth", "/"):
        assert httpx.get(f"{client_port}{path}").status_code == 404, path
    base = centrifugo.internal_url
    assert httpx.get(f"{base}/health").status_code == 200
    assert "centrifugo_" in httpx.get(f"{base}/metrics").text
    assert httpx.post(f"{base}/admin/auth", data={"password": "wrong"}).status_code == 400
    login = httpx.post(f"{base}/admin/auth", data={"password": settings.CENTRIFUGO_ADMIN_PASSWORD})
    assert login.status_code == 200 and login.json()["token"]
    # The server API wants its key.
    with pytest.raises(cent.CentUnauthorizedError):
        centrifugo.api(api_key="wrong").info(cent.InfoRequest())
    assert centrifugo.api().info(cent.InfoRequest()).nodes


def test_only_the_sites_origin_may_open_a_websocket(centrifugo_factory):
    server = centrifugo_factory(origin="http://site.example:8800")
    with websockets.sync.client.connect(server.ws_url, origin="http://site.example:8800"):
        pass
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        websockets.sync.client.connect(server.ws_url, origin="http://evil.example")
    assert refused.value.response.status_code == 403


def test_token_api_gives_a_short_lived_token_for_the_user(team, client_for, settings):
    response = client_for(team.member).get("/api/realtime/token/")
    assert response.status_code == 200
    body = response.json()
    claims = jwt.decode(body["token"], settings.CENTRIFUGO_TOKEN_HMAC_SECRET, algorithms=["HS256"])
    assert claims["sub"] == str(team.member.pk)
    assert 0 < claims["exp"] - datetime.now(tz=UTC).timestamp() <= 15 * 60
    assert body["channel"] == f"personal:#{team.member.pk}"


def test_token_api_needs_a_signed_in_user(api_client):
    assert api_client.get("/api/realtime/token/").status_code in (401, 403)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["memory", "redis"])
def test_outage_then_restart_delivers_all_messages_once_in_order(engine, centrifugo_factory, team, client_for):
    """Centrifugo is stopped while 50 messages are posted; the writes succeed (the outbox
    keeps their events). After the restart the reconnected client ends with all 50, in order,
    none twice: with Redis, history recovers them; with the memory engine, history is gone,
    Centrifugo says so (`recovered` false) and the client refetches through REST, as the page
    does."""
    server = centrifugo_factory(engine=engine)
    poster = client_for(team.owner)
    reader = client_for(team.member)
    with client_of(server, team.member, chat=team.chat) as client:
        assert client.wait_for(lambda c: c.subscribed)
        server.stop()
        assert client.wait_for(lambda c: not c.connected.is_set())
        posted = []
        for n in range(50):
            response = poster.post(f"/api/chats/{team.chat.pk}/messages/", {"text": f"m{n}"}, format="json")
            assert response.status_code == 201
            posted.append(response.json()["id"])
        server.start()
        assert client.wait_for(lambda c: len(c.subscribed) >= 2, timeout=30)
        resubscribe = client.subscribed[1]
        assert resubscribe["was_recovering"]

        state: dict[int, dict] = {}  # the client's messages, as the page holds them
        if not resubscribe["recovered"]:
            after = 0
            while True:
                page = reader.get(f"/api/chats/{team.chat.pk}/messages/", {"after": after, "limit": 100}).json()
                state.update({m["id"]: m for m in page["results"]})
                if not page["has_newer"]:
                    break
                after = page["results"][-1]["id"]

        # Whatever the snapshot missed arrives as publications (recovered or live).
        def has_all(c: ChannelClient) -> bool:
            return set(posted) <= {e["data"]["id"] for e in c.events("message.created")} | set(state)

        assert client.wait_for(has_all, timeout=30)
        for event in client.events("message.created"):
            state[event["data"]["id"]] = event["data"]

        event_ids = [e["id"] for e in client.publications]
        assert len(event_ids) == len(set(event_ids)), "an event was delivered twice"
        assert sorted(state) == posted
        assert [state[i]["text"] for i in posted] == [f"m{n}" for n in range(50)]
        if engine == "redis":
            # History survived the restart: recovery alone brought all 50, in order.
            assert resubscribe["recovered"]
            assert [e["data"]["id"] for e in client.events("message.created")] == posted
        else:
            assert not resubscribe["recovered"]
