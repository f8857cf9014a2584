"""Smoke check of a peer: two members' sockets, 20 POSTs, each frame exactly once.

    .venv/bin/python -m bench.peers.smoke --peer channels|socketio [--workers 1]

Starts the peer on a free port against a database of its own.
"""

import argparse
import asyncio
import json
import sys
import uuid

import httpx

from bench.peers import django_setup
from bench.peers.clients import RefusedError

MESSAGES = 20


async def smoke_run(server, client, *, tokens: list[str], chat_id: int) -> list[str]:
    """Returns the failures (empty: passed)."""
    failures = []
    try:
        await (await client.open(server, "not-a-token")).close()
        failures.append("a bad token was accepted")
    except RefusedError as exc:
        print(f"bad token refused: {exc}")

    sockets = [await client.open(server, token) for token in tokens]
    sent: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Token {tokens[0]}"}) as http:
        for i in range(MESSAGES):
            client_id = uuid.uuid4().hex
            response = await http.post(
                f"/api/chats/{chat_id}/messages/", json={"text": f"hello {i}", "client_id": client_id}
            )
            if response.status_code != 201:
                failures.append(f"POST {i}: {response.status_code} {response.text[:200]}")
                continue
            sent[client_id] = response.json()["id"]
        repeat = await http.post(f"/api/chats/{chat_id}/messages/", json={"text": "again", "client_id": client_id})
        if repeat.status_code != 200 or repeat.json()["id"] != sent[client_id]:
            failures.append(f"a repeated client_id answered {repeat.status_code} {repeat.text[:200]}")

    for n, socket in enumerate(sockets):
        got: list[dict] = []
        try:
            while True:  # until the socket has been quiet for a second
                got.append(await asyncio.wait_for(socket.recv(), timeout=1))
        except TimeoutError:
            pass
        await socket.close()
        ids = [frame["data"]["client_id"] for frame in got]
        envelope_ok = all(
            frame["type"] == "message.created" and frame["chat_id"] == chat_id and frame["id"] == frame["data"]["id"]
            for frame in got
        )
        once = sorted(ids) == sorted(sent) and len(ids) == len(set(ids))
        print(f"client {n}: {len(got)} frames, {len(set(ids) & set(sent))}/{len(sent)} messages, each once: {once}")
        if not (once and envelope_ok):
            failures.append(f"client {n} got {ids} for {list(sent)} (envelopes ok: {envelope_ok})")
    if got:
        print("a frame:", json.dumps(got[-1]))
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.smoke")
    parser.add_argument("--peer", choices=["channels", "socketio"], default="channels")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    django_setup()
    from bench.peers.population import peer_running

    with peer_running(args.peer, purpose="smoke", workers=args.workers, readers=1, chat_size=2) as running:
        server, client, population = running
        # Two members of one chat: the poster and a reader.
        tokens = [population.poster_token, population.reader_tokens[0]]
        failures = asyncio.run(smoke_run(server, client, tokens=tokens, chat_id=population.chats[0][0]))
    print(
        "FAILED:\n  " + "\n  ".join(failures) if failures else f"OK: 2 clients x {MESSAGES} messages, each exactly once"
    )
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
