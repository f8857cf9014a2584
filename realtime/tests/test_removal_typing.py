"""A removed member's typing and presence end at once: the removal queues Centrifugo's
unsubscribe from the chat's `typing:<id>` channel too, so they neither see nor are seen."""

import json

import httpx
import websockets.sync.client
from django.conf import settings

from chats.services import chat_member_remove
from realtime.services import typing_channel
from realtime.tokens import connection_token_issue, subscription_token_issue


def _presence(server, channel: str) -> set[str]:
    response = httpx.post(
        f"{server.api_url}/presence",
        json={"channel": channel},
        headers={"X-API-Key": settings.CENTRIFUGO_HTTP_API_KEY},
        timeout=5,
    )
    body = response.json()
    assert "error" not in body, body
    return {client["user"] for client in body["result"].get("presence", {}).values()}


def _frames(ws) -> list[dict]:
    """The replies and pushes of one WebSocket message (Centrifugo batches them by line)."""
    return [json.loads(line) for line in ws.recv(timeout=5).splitlines()]


def test_a_removed_member_leaves_typing_and_presence_at_once(centrifugo, team):
    channel = typing_channel(team.chat.pk)
    with websockets.sync.client.connect(centrifugo.ws_url) as ws:
        ws.send(json.dumps({"id": 1, "connect": {"token": connection_token_issue(user=team.member)["token"]}}))
        assert "connect" in _frames(ws)[0]
        token = subscription_token_issue(user=team.member, channel=channel)["token"]
        ws.send(json.dumps({"id": 2, "subscribe": {"channel": channel, "token": token}}))
        reply = _frames(ws)
        assert any(frame.get("id") == 2 and "subscribe" in frame for frame in reply), reply
        assert _presence(centrifugo, channel) == {str(team.member.pk)}

        chat_member_remove(chat=team.chat, user_id=team.member.pk, actor=team.owner)
        pushes = []
        while not any(
            "unsubscribe" in push.get("push", {}) and push["push"].get("channel") == channel for push in pushes
        ):
            pushes.extend(_frames(ws))
        assert _presence(centrifugo, channel) == set()
