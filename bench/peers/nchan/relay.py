"""Publishes every event of the log to Nchan, on the channel of each recipient.

It is the same code path that wakes the Django long-poll and SSE views: a
`edge.listener.EventListener` (one LISTEN connection, reads each new event once), with
a callback that POSTs the envelope's JSON (byte for byte what the Django views send) once
per event to `/pub/<id>,<id>,...`, the channels of its recipients. It runs as a process of
its own, so that its CPU is counted with nginx's:

    python -m bench.peers.nchan.relay http://127.0.0.1:<port>
"""

import asyncio
import os
import sys

import django

# Nchan publishes to at most this many channels in one request.
NCHAN_MAX_CHANNELS = 255
JSON = {"Content-Type": "application/json"}


async def main(nchan_url: str) -> None:
    import logging

    import httpx

    logging.getLogger("httpx").setLevel(logging.WARNING)

    from asgiref.sync import sync_to_async

    from core.database import database_conninfo
    from edge.listener import BufferedEvent, EventListener

    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=nchan_url, limits=limits, timeout=10) as http:
        # The chat's members, read once per chat: an event for the members is seen by the
        # members of the moment it is read (the bench's chats keep theirs), plus also_to.
        members: dict[int, set[int]] = {}

        def chat_members(chat_id: int) -> set[int]:
            from chats.models import Membership

            return set(Membership.objects.filter(chat_id=chat_id).values_list("user_id", flat=True))

        async def recipients_of(event: BufferedEvent) -> list[int]:
            ids = set(event.also_to)
            if event.to_members:
                if event.chat_id not in members:
                    members[event.chat_id] = await sync_to_async(chat_members)(event.chat_id)
                ids |= members[event.chat_id]
            return sorted(ids)

        async def publish(batch: list[BufferedEvent]) -> None:
            # In log order, one POST per event for all its recipients' channels.
            for event in batch:
                recipients = await recipients_of(event)
                for start in range(0, len(recipients), NCHAN_MAX_CHANNELS):
                    channels = ",".join(map(str, recipients[start : start + NCHAN_MAX_CHANNELS]))
                    try:
                        await http.post(f"/pub/{channels}", content=event.json, headers=JSON)
                    except httpx.HTTPError as exc:
                        print(f"relay: publish failed: {exc!r}", file=sys.stderr)

        listener = EventListener(conninfo=database_conninfo(), buffer_size=1000, on_events=publish)
        while not listener.ready:
            await asyncio.sleep(0.05)
        print("relay: ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.settings.test")
    django.setup()
    asyncio.run(main(sys.argv[1]))
