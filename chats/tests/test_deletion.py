"""A deleted message's text is nowhere a member can reach, and an edited message's old text
neither: REST, the event log from cursor 0 (polling, long polling, SSE, from the database
and from the feed's memory), the Centrifugo outbox, Centrifugo's history and a recovery
from an old offset, search. Members who join after the deletion included."""

import asyncio
import json
import time

import httpx
import pytest
import websockets.sync.client
from django.conf import settings
from django.db import connection

from accounts.services import token_create
from chats.services import chat_member_add, message_create, message_delete, message_update
from realtime.models import CentrifugoOutbox, Event
from realtime.services import chat_channel
from realtime.tokens import connection_token_issue, subscription_token_issue
from testing.centrifugo import ChannelClient

SECRET, OLD, NEW = "the launch code is 0000", "first draft of the plan", "final plan"
pytestmark = pytest.mark.django_db(transaction=True)


def _post(client, chat, text: str, reply_to: int | None = None) -> dict:
    body = {"text": text} | ({"reply_to": reply_to} if reply_to else {})
    response = client.post(f"/api/chats/{chat.pk}/messages/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _delete_and_edit(team, client_for) -> tuple[dict, dict]:
    """A secret posted then deleted, a message posted then edited, each with a reply that
    quotes it; all over REST."""
    owner = client_for(team.owner)
    secret, edited = _post(owner, team.chat, SECRET), _post(owner, team.chat, OLD)
    _post(client_for(team.member), team.chat, "replying", reply_to=secret["id"])
    _post(client_for(team.member), team.chat, "replying too", reply_to=edited["id"])
    assert owner.delete(f"/api/chats/{team.chat.pk}/messages/{secret['id']}/").status_code in (200, 204)
    response = owner.patch(f"/api/chats/{team.chat.pk}/messages/{edited['id']}/", {"text": NEW}, format="json")
    assert response.status_code == 200, response.content
    return secret, edited


def _newcomer(team, make_user):
    """A member who joins after the deletion."""
    user = make_user("newcomer")
    chat_member_add(chat=team.chat, user=user, added_by=team.owner)
    return user


def _assert_gone(text: str) -> None:
    assert SECRET not in text and "launch code" not in text
    assert OLD not in text and "first draft" not in text


def test_rest_shows_only_the_tombstone(team, client_for):
    _delete_and_edit(team, client_for)
    response = client_for(team.member).get(f"/api/chats/{team.chat.pk}/messages/")
    assert response.status_code == 200
    _assert_gone(response.content.decode())
    assert NEW in response.content.decode()


def test_the_event_log_from_cursor_0_has_only_the_tombstone(team, client_for, make_user):
    secret, edited = _delete_and_edit(team, client_for)
    for reader in (team.member, _newcomer(team, make_user)):
        response = client_for(reader).get("/api/updates/", {"after": 0, "limit": 500})
        assert response.status_code == 200, response.content
        _assert_gone(response.content.decode())
        events = {(e["type"], e["data"]["id"]): e["data"] for e in response.json()["events"] if "text" in e["data"]}
        # The created event stays (the cursor has no hole), with the message as it is now.
        assert events[("message.created", secret["id"])]["deleted_at"] is not None
        assert events[("message.created", secret["id"])]["text"] == ""
        assert events[("message.created", edited["id"])]["text"] == NEW
        quotes = {e["data"]["reply_to"]["id"]: e["data"]["reply_to"] for e in response.json()["events"]
                  if e["type"] == "message.created" and e["data"].get("reply_to")}  # fmt: skip
        assert quotes[secret["id"]]["deleted"] is True and quotes[secret["id"]]["text"] == ""
        assert quotes[edited["id"]]["text"] == NEW
    # Nowhere in the log at all, whoever reads it.
    _assert_gone(json.dumps(list(Event.objects.values_list("data", flat=True))))


def test_a_publication_still_in_the_outbox_loses_the_text(team):
    """Centrifugo is down (no consumer here): the queued publication must not carry the text
    to it later; the history removal is queued before the delete's own publication."""
    message, _ = message_create(chat_id=team.chat.pk, author=team.owner, text=SECRET)
    message_create(chat_id=team.chat.pk, author=team.member, text="replying", reply_to=message.pk)
    message_delete(message=message, actor=team.owner)
    rows = list(CentrifugoOutbox.objects.order_by("id").values_list("method", "payload"))
    _assert_gone(json.dumps([payload for _, payload in rows]))
    methods = [method for method, _ in rows]
    removal = methods.index("history_remove")
    assert rows[removal][1] == {"channel": chat_channel(team.chat.pk)}
    assert rows[-1][1]["data"]["type"] == "message.deleted" and removal < len(rows) - 1


def test_the_redaction_uses_the_message_index(team):
    with connection.cursor() as cursor:
        # A chat with a history, as a redaction meets it: on a near-empty table the planner's
        # choice between this index and the chat's position index is a coin toss.
        cursor.execute(
            "insert into realtime_event (type, chat_id, to_members, also_to, data, created_at)"
            " select 'message.created', %s, true, '{}', jsonb_build_object('id', n), now()"
            " from generate_series(1000, 3000) n",
            [team.chat.pk],
        )
        cursor.execute("analyze realtime_event")
        cursor.execute("set enable_seqscan = off")
        cursor.execute(
            "explain update realtime_event set data = '{}'::jsonb where chat_id = %s"
            " and type in ('message.created', 'message.updated') and (data -> 'id') = to_jsonb(%s::bigint)",
            [team.chat.pk, 1],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        # Only the rows made here (data is just an id), which no event contract allows.
        cursor.execute(
            "delete from realtime_event where chat_id = %s and data = jsonb_build_object('id', data -> 'id')",
            [team.chat.pk],
        )
    assert "realtime_event_message" in plan, plan


def test_search_finds_neither_the_deleted_nor_the_old_text(team, client_for):
    _delete_and_edit(team, client_for)
    member = client_for(team.member)
    for q in ("launch", "draft"):
        response = member.get("/api/search/", {"q": q})
        assert response.status_code == 200 and response.json()["results"] == [], response.content
    assert [hit["text"] for hit in member.get("/api/search/", {"q": "final"}).json()["results"]] == [NEW]


def test_long_poll_and_sse_from_cursor_0_and_from_memory(site, team, client_for, make_user):
    newcomer = _newcomer(team, make_user)
    owner = client_for(team.owner)
    headers = {"Authorization": f"Token {token_create(user=newcomer)}"}

    async def read(http, **params) -> str:
        response = await http.get("/api/updates/", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return response.text

    async def sse(http, after: int) -> str:
        seen = []
        async with http.stream("GET", "/api/updates/stream/", params={"after": after}, headers=headers) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                seen.append(line)
                if line.startswith(":") and len(seen) > 1:  # the first heartbeat: the backlog is out
                    break
        return "\n".join(seen)

    async def scenario():
        async with httpx.AsyncClient(base_url=site.url, timeout=20) as http:
            # The feed process's listener is running and holds what follows in memory.
            start = json.loads(await read(http))["cursor"]
            await read(http, after=start, wait=1)  # a long poll starts the listener, at `start`
            secret = await asyncio.to_thread(_post, owner, team.chat, SECRET)
            edited = await asyncio.to_thread(_post, owner, team.chat, OLD)
            # Replies quote both: their events in memory lose the quoted text too.
            await asyncio.to_thread(_post, owner, team.chat, "re", secret["id"])
            await asyncio.to_thread(_post, owner, team.chat, "re", edited["id"])
            # Wait until the feed served both texts: its memory holds them now.
            seen = ""
            while OLD not in seen:
                seen += await read(http, after=start, wait=5, limit=500)
            assert SECRET in seen
            await asyncio.to_thread(owner.delete, f"/api/chats/{team.chat.pk}/messages/{secret['id']}/")
            url = f"/api/chats/{team.chat.pk}/messages/{edited['id']}/"
            await asyncio.to_thread(owner.patch, url, {"text": NEW}, format="json")
            # The feed has read the edit (its last event) before we look.
            while NEW not in await read(http, after=start, wait=5, limit=500):
                pass
            for after in (0, start):  # 0 from the database, `start` from memory
                text = await read(http, after=after, wait=1, limit=500)
                _assert_gone(text)
                assert NEW in text
                _assert_gone(await sse(http, after))

    asyncio.run(scenario())


def _recover(server, user, chat, offset: int, epoch: str) -> dict:
    """Subscribes over Centrifugo's JSON protocol asking to recover from (offset, epoch)."""
    channel = chat_channel(chat.pk)
    with websockets.sync.client.connect(server.ws_url) as ws:
        ws.send(json.dumps({"id": 1, "connect": {"token": connection_token_issue(user=user)["token"]}}))
        assert "connect" in json.loads(ws.recv(timeout=5))
        token = subscription_token_issue(user=user, channel=channel)["token"]
        ws.send(
            json.dumps(
                {
                    "id": 2,
                    "subscribe": {
                        "channel": channel,
                        "token": token,
                        "recover": True,
                        "offset": offset,
                        "epoch": epoch,
                    },
                }
            )
        )
        reply = json.loads(ws.recv(timeout=5))
    assert "subscribe" in reply, reply
    return reply["subscribe"]


def test_centrifugo_history_and_recovery_have_only_the_tombstone(centrifugo, team, client_for, make_user):
    channel = chat_channel(team.chat.pk)
    with ChannelClient(
        url=centrifugo.ws_url,
        channel=channel,
        token=lambda: connection_token_issue(user=team.member)["token"],
        sub_token=lambda: subscription_token_issue(user=team.member, channel=channel)["token"],
    ) as member:
        assert member.wait_for(lambda c: c.subscribed)
        owner = client_for(team.owner)
        _post(owner, team.chat, "before")
        assert member.wait_for(lambda c: c.events("message.created"))
        position = _history(centrifugo, channel)
        assert "before" in json.dumps(position["publications"])
        old_offset, old_epoch = position["offset"], position["epoch"]
        _delete_and_edit(team, client_for)
        assert member.wait_for(lambda c: c.events("message.deleted") and c.events("message.updated"))
    # History: only what came after the removal (the tombstone and the new text).
    assert _wait_history(centrifugo, channel, lambda h: any("message.updated" in json.dumps(p) for p in h))
    history = _history(centrifugo, channel)
    _assert_gone(json.dumps(history))
    # A member, or one who joined since, recovering from the offset before the deletion.
    for user in (team.member, _newcomer(team, make_user)):
        outcome = _recover(centrifugo, user, team.chat, old_offset, old_epoch)
        _assert_gone(json.dumps(outcome))
        assert not outcome.get("recovered")  # told the stream changed: refetch over REST


def _history(server, channel: str) -> dict:
    """Centrifugo's server API `history` of the channel (the last 100 publications)."""
    response = httpx.post(
        f"{server.api_url}/history",
        json={"channel": channel, "limit": 100},
        headers={"X-API-Key": _api_key()},
        timeout=5,
    )
    body = response.json()
    assert "error" not in body, body
    result = body.get("result", {})
    return {
        "publications": [p.get("data") for p in result.get("publications", [])],
        "offset": int(result.get("offset", 0)),
        "epoch": result.get("epoch", ""),
    }


def _wait_history(server, channel: str, predicate, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate(_history(server, channel)["publications"]):
            return True
        time.sleep(0.05)
    return False


def _api_key() -> str:
    return settings.CENTRIFUGO_HTTP_API_KEY


def test_an_edit_leaves_only_the_new_text_in_the_log(team):
    message, _ = message_create(chat_id=team.chat.pk, author=team.owner, text=OLD)
    message_update(message=message, actor=team.owner, text=NEW)
    assert Event.objects.filter(type="message.created", data__id=message.pk).get().data["text"] == NEW
