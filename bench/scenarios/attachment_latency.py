"""Upload of a 10 MB image → the thumbnail's `attachment.updated` event at the other member.

    .venv/bin/python -m bench attachment-latency              # 5 rounds each of a JPEG and a PNG
    .venv/bin/python -m bench attachment-latency --rounds 3 --megabytes 10

The whole path as `make run` serves it: nginx (the upload spooled to its temp file) →
granian (Django streams the multipart body to a temp file, checks the content, moves it into
the attachments storage, commits message + attachment + event) → Redis → a Celery worker on
the `media` queue (Pillow thumbnail) → the `attachment.updated` event through the outbox →
Centrifugo → the other member's WebSocket client (centrifuge-python). A database of its own
(bench_media, dropped at the end), loopback ports of its own, a Redis key prefix of its own.

Per round: upload (POST sent → 201), and POST sent → thumbnail event at the other client.
Bounded: every wait has a timeout. Prints medians and writes bench/results/attachment_latency.json.
"""

import argparse
import io
import logging
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from django.db import connection
from PIL import Image

from accounts.models import User
from accounts.services import token_create
from bench.measure import machine, results_write
from bench.stack import SiteStack
from chats.services import chat_create
from core.database import database_url
from realtime.services import chat_channel
from realtime.tokens import connection_token_issue, subscription_token_issue
from testing.background import CeleryWorker
from testing.centrifugo import ChannelClient
from testing.redis_keys import keys_deleted

DATABASE = "bench_media"


def image_bytes(kind: str, megabytes: float) -> tuple[bytes, tuple[int, int]]:
    """Random pixels (they do not compress), sized so the file is about `megabytes`."""
    target = int(megabytes * 1024 * 1024)
    side = 1000
    while True:
        size = (side * 4 // 3, side)
        image = Image.effect_noise(size, 80).convert("RGB")
        out = io.BytesIO()
        image.save(out, format="JPEG" if kind == "jpeg" else "PNG", **({"quality": 95} if kind == "jpeg" else {}))
        if out.tell() >= target:
            return out.getvalue(), size
        side = int(side * (target / out.tell()) ** 0.5 * 1.02) + 8


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--megabytes", type=float, default=10)
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for each thumbnail event")
    args = parser.parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)

    connection.settings_dict["TEST"]["NAME"] = DATABASE
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    prefix = f"bench-media-{uuid.uuid4().hex[:8]}:"
    workdir = Path(tempfile.mkdtemp(prefix="bench-media-"))
    workdir.chmod(0o711)
    storage_root = workdir / "attachments"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")} | {
        "DJANGO_SETTINGS_MODULE": "messenger.settings.local",
        "DATABASE_URL": database_url(),
        "CELERY_KEY_PREFIX": prefix,
        "ATTACHMENTS_ROOT": str(storage_root),
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(ATTACHMENTS_ROOT=str(storage_root), CELERY_KEY_PREFIX=prefix)
    worker = CeleryWorker(env=env, log_path=workdir / "worker.log", queues=("media", "default"), name="bench-media")
    stack = SiteStack(workdir=workdir / "site", settings_module="messenger.settings.local", workers=2)
    rounds: list[dict] = []
    try:
        worker.start()
        stack.start(ATTACHMENTS_ROOT=str(storage_root), CELERY_KEY_PREFIX=prefix)

        sender = User.objects.create_user(username="sender", email="sender@example.com", password=None)
        reader = User.objects.create_user(username="reader", email="reader@example.com", password=None)
        chat = chat_create(created_by=sender, title="Bench", member_ids=[reader.pk])
        channel = chat_channel(chat.pk)
        headers = {"Authorization": f"Token {token_create(user=sender)}"}
        images = {kind: image_bytes(kind, args.megabytes) for kind in ("jpeg", "png")}
        with (
            ChannelClient(
                url=stack.centrifugo.ws_url,
                channel=channel,
                token=lambda: connection_token_issue(user=reader)["token"],
                sub_token=lambda: subscription_token_issue(user=reader, channel=channel)["token"],
            ) as client,
            httpx.Client(base_url=stack.url, headers=headers, timeout=60) as http,
        ):
            assert client.wait_for(lambda c: c.subscribed, timeout=15), "the reader did not subscribe"
            for kind, (content, size) in images.items():
                for index in range(args.rounds):
                    started = time.monotonic()
                    response = http.post(
                        "/api/attachments/",
                        data={"chat_id": str(chat.pk)},
                        files={"file": (f"photo-{index}.{kind}", content)},
                    )
                    uploaded = time.monotonic()
                    response.raise_for_status()
                    attachment_id = response.json()["attachment"]["id"]

                    def ready(c, attachment_id=attachment_id) -> bool:
                        return any(e["data"]["id"] == attachment_id for e in c.events("attachment.updated"))

                    assert client.wait_for(ready, timeout=args.timeout), f"no thumbnail event for {attachment_id}"
                    arrived = time.monotonic()
                    (event,) = [e for e in client.events("attachment.updated") if e["data"]["id"] == attachment_id]
                    rounds.append(
                        {
                            "kind": kind,
                            "bytes": len(content),
                            "pixels": list(size),
                            "status": event["data"]["status"],
                            "upload_ms": round((uploaded - started) * 1000, 1),
                            "to_thumbnail_event_ms": round((arrived - started) * 1000, 1),
                        }
                    )
                    print(f"{kind} {len(content) / 1e6:.1f} MB: {rounds[-1]}", flush=True)
    finally:
        stack.stop()
        worker.stop()
        keys_deleted(f"{prefix}*")
        connection.creation.destroy_test_db(old_name, verbosity=0)

    summary = {}
    for kind in ("jpeg", "png"):
        ours = [r for r in rounds if r["kind"] == kind]
        if ours:
            summary[kind] = {
                "rounds": len(ours),
                "megabytes": round(ours[0]["bytes"] / 1024 / 1024, 2),
                "pixels": ours[0]["pixels"],
                "upload_ms_median": statistics.median(r["upload_ms"] for r in ours),
                "to_thumbnail_event_ms_median": statistics.median(r["to_thumbnail_event_ms"] for r in ours),
                "to_thumbnail_event_ms_max": max(r["to_thumbnail_event_ms"] for r in ours),
                "all_ready": all(r["status"] == "ready" for r in ours),
            }
    result = {
        "benchmark": "attachment_latency",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": "10 MB image: thumbnail event at the other client within 2 s",
        "summary": summary,
        "rounds": rounds,
        "setup": {
            "path": "httpx → nginx → granian (local settings) → storage → Redis → celery prefork (media queue) "
            "→ outbox → Centrifugo (memory engine) → centrifuge-python client",
            "machine": machine(),
        },
    }
    for kind, figures in summary.items():
        print(
            f"{kind} {figures['megabytes']} MB {figures['pixels'][0]}x{figures['pixels'][1]}: upload p50 "
            f"{figures['upload_ms_median']} ms, POST → thumbnail event at the other client p50 "
            f"{figures['to_thumbnail_event_ms_median']} ms, max {figures['to_thumbnail_event_ms_max']} ms"
        )
    results_write("attachment_latency", result)
