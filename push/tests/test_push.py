"""Web Push end to end: a real worker encrypts and signs each push (pywebpush), a push
service on loopback checks and decrypts it with the subscription's keys."""

from collections.abc import Iterator

import pytest

from chats.services import chat_create, message_create
from push.models import PushSubscription
from testing.processes import wait_until

from .receiver import PushReceiver

URL = "/api/push/subscriptions/"


@pytest.fixture
def receiver() -> Iterator[PushReceiver]:
    server = PushReceiver().start()
    yield server
    server.stop()


@pytest.mark.django_db
def test_subscriptions_are_per_device_and_only_the_callers(team, client_for, receiver, settings):
    member = client_for(team.member)
    one, two = receiver.subscribe(), receiver.subscribe()
    assert member.post(URL, one, format="json").status_code == 201
    assert member.post(URL, two, format="json").status_code == 201
    assert member.post(URL, one, format="json").status_code == 201  # the same device again: one row
    assert [s["endpoint"] for s in member.get(URL).json()] == [one["endpoint"], two["endpoint"]]
    assert client_for(team.owner).get(URL).json() == []
    # Another user signing in on that browser takes the endpoint over.
    assert client_for(team.owner).post(URL, one, format="json").status_code == 201
    assert PushSubscription.objects.get(endpoint=one["endpoint"]).user == team.owner
    assert member.delete(URL, {"endpoint": two["endpoint"]}, format="json").status_code == 204
    assert client_for(team.member).get(URL).json() == []
    assert member.post(URL, {"endpoint": "not a url", "keys": one["keys"]}, format="json").status_code == 400
    settings.PUSH_ALLOW_INSECURE_ENDPOINTS = False
    for endpoint in ("http://push.example.com/x", "https://127.0.0.1/x", "https://10.1.2.3/x", "https://localhost/x"):
        response = member.post(URL, {"endpoint": endpoint, "keys": one["keys"]}, format="json")
        assert response.status_code == 400, endpoint
    config = member.get("/api/push/config/").json()
    assert config["enabled"] is True
    assert len(config["public_key"]) == 87  # 65 bytes, base64url


@pytest.mark.django_db
def test_the_service_worker_is_served_from_the_root(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert b'addEventListener("push"' in response.content


@pytest.mark.django_db(transaction=True)
def test_a_mention_reaches_the_push_service_decrypted_exactly_once(
    worker, broker, team, client_for, receiver, settings
):
    settings.PUSH_SEND = True
    subscription = receiver.subscribe()
    assert client_for(team.member).post(URL, subscription, format="json").status_code == 201
    other = receiver.subscribe()  # the owner's device: the author is never pushed
    assert client_for(team.owner).post(URL, other, format="json").status_code == 201

    owner = client_for(team.owner)
    url = f"/api/chats/{team.chat.pk}/messages/"
    assert owner.post(url, {"text": "no mention here"}, format="json").status_code == 201
    assert owner.post(url, {"text": f"@{team.member.username} lunch?"}, format="json").status_code == 201
    (delivery,) = receiver.wait_for(1)
    assert delivery.payload | {"message_id": 0} == {
        "title": f"{team.owner.username} in Team",
        "body": f"@{team.member.username} lunch?",
        "url": f"/chats/{team.chat.pk}/",
        "tag": f"chat-{team.chat.pk}",
        "chat_id": team.chat.pk,
        "message_id": 0,
    }
    assert delivery.token == subscription["endpoint"].rsplit("/", 1)[-1]
    broker.wait_idle()  # every task finished: still exactly one
    assert len(receiver.deliveries) == 1
    assert PushSubscription.objects.get(endpoint=subscription["endpoint"]).last_sent_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_direct_message_pushes_and_an_expired_subscription_is_removed(worker, broker, team, receiver, settings):
    settings.PUSH_SEND = True
    direct = chat_create(created_by=team.owner, kind="direct", member_ids=[team.member.pk])
    alive, expired = receiver.subscribe(), receiver.subscribe()
    for subscription in (alive, expired):
        PushSubscription.objects.create(
            user=team.member,
            endpoint=subscription["endpoint"],
            p256dh=subscription["keys"]["p256dh"],
            auth=subscription["keys"]["auth"],
        )
    receiver.answer[expired["endpoint"].rsplit("/", 1)[-1]] = 410
    message_create(chat_id=direct.pk, author=team.owner, text="are you there?")
    wait_until(
        lambda: not PushSubscription.objects.filter(endpoint=expired["endpoint"]).exists(),
        timeout=30,
        what="the expired subscription's removal",
    )
    broker.wait_idle()
    assert [d.payload["body"] for d in receiver.deliveries] == ["are you there?"]
    assert [d.payload["title"] for d in receiver.deliveries] == [team.owner.username]
    assert PushSubscription.objects.filter(endpoint=alive["endpoint"]).exists()


def test_a_member_with_a_page_open_is_connected_and_others_are_not(centrifugo_factory, team, settings):
    """Presence in the personal channel is what the push task asks (one server API call)."""
    from push.selectors import user_connected
    from realtime.services import personal_channel
    from realtime.tokens import connection_token_issue
    from testing.centrifugo import ChannelClient

    server = centrifugo_factory()
    settings.CENTRIFUGO_API_URL = server.api_url
    with ChannelClient(
        url=server.ws_url,
        channel=personal_channel(team.member.pk),
        token=lambda: connection_token_issue(user=team.member)["token"],
    ) as page:
        assert page.wait_for(lambda c: c.subscribed)
        assert user_connected(user_id=team.member.pk)
        assert not user_connected(user_id=team.owner.pk)
    settings.CENTRIFUGO_API_URL = "http://127.0.0.1:9/api"  # nothing there: counted as not connected
    assert not user_connected(user_id=team.member.pk)
