"""Latency from the API call that adds a member to the arrival of the admin's email at the
SMTP server, through the whole path: uvicorn + DRF -> chat_member_add (SentNotification row,
on-commit send) -> Redis -> celery worker (email queue, prefork) -> Django SMTP backend ->
aiosmtpd.

    .venv/bin/python -m bench email-latency                  # 200 members, one at a time
    .venv/bin/python -m bench email-latency --members 50 --concurrency 4

It creates a database of its own (bench_email, dropped at the end), starts an SMTP server in
this process and a celery worker and uvicorn as subprocesses on free loopback ports, with a
Redis key prefix of its own (the `make run` worker never sees its tasks). A chat has an owner
and one admin; the owner adds --members users through POST /api/chats/<id>/members/, and each
addition emails the admin once. A sample is (arrival at the SMTP server) - (moment the POST
was sent), matched by the email's Message-ID. Prints p50/p99/max and writes
bench/results/email_latency.json.
"""

import argparse
import logging
import os
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
from django.db import connection
from django.utils import timezone

from accounts.models import User
from accounts.services import token_create
from bench.measure import machine, results_write
from bench.stats import percentile
from chats.models import Membership
from chats.services import chat_create, chat_member_add
from core.database import database_url
from testing.background import CeleryWorker, SmtpServer
from testing.redis_keys import keys_deleted
from testing.site import UvicornServer

DATABASE = "bench_email"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench email-latency", description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1, help="API calls in flight at once")
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for every email")
    args = parser.parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)

    connection.settings_dict["TEST"]["NAME"] = DATABASE
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    prefix = f"bench-email-{uuid.uuid4().hex[:8]}:"
    smtp = SmtpServer()
    smtp.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    env.update(
        DJANGO_SETTINGS_MODULE="messenger.settings.local",
        DATABASE_URL=database_url(),
        CELERY_KEY_PREFIX=prefix,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp.port),
        EMAIL_USE_TLS="false",
        EMAIL_USE_SSL="false",
        LOG_LEVEL="WARNING",
        # One email per addition is what is measured; the hourly limit has tests of its own.
        NOTIFICATIONS_MEMBER_ADDED_PER_HOUR="1000000",
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench-email-"))
    worker = CeleryWorker(env=env, log_path=workdir / "worker.log", name="bench")
    web = None
    try:
        worker.start()
        web = UvicornServer(settings_module="messenger.settings.local").start(**env)
        url = web.url

        owner = User.objects.create_user(username="owner", email="owner@example.com", password=None)
        # Verified (only such an address gets email); made admin by the system path (no tenure).
        admin = User.objects.create_user(
            username="admin", email="admin@example.com", password=None, email_verified_at=timezone.now()
        )
        chat = chat_create(created_by=owner, title="Bench")
        chat_member_add(chat=chat, user=admin, role=Membership.Role.ADMIN, added_by=None)
        members = [
            User.objects.create_user(username=f"m{i}", email=f"m{i}@example.com", password=None)
            for i in range(args.members)
        ]
        token = token_create(user=owner)

        sent_at: dict[int, float] = {}
        api_ms: list[float] = []
        client = httpx.Client(base_url=url, headers={"Authorization": f"Token {token}"}, timeout=30)

        def add(user: User) -> None:
            started = time.time()
            response = client.post(f"/api/chats/{chat.pk}/members/", json={"user_id": user.pk})
            response.raise_for_status()
            api_ms.append((time.time() - started) * 1000)
            sent_at[user.pk] = started

        began = time.monotonic()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(add, members))
        api_seconds = time.monotonic() - began

        ids = dict(Membership.objects.filter(chat=chat, user__in=members).values_list("pk", "user_id"))

        def ours(mails) -> list:
            return [m for m in mails if m.message_id.startswith("<member-added.") and m.rcpt_tos == [admin.email]]

        smtp.wait_for(lambda mails: len(ours(mails)) >= len(members), timeout=args.timeout)
        time.sleep(1)  # a duplicate would arrive now
        mails = ours(smtp.mails)
        latencies = []
        for mail in mails:
            membership_id = int(mail.message_id.split(".")[1])
            latencies.append((mail.received_at - sent_at[ids[membership_id]]) * 1000)
        client.close()
    finally:
        if web is not None:
            web.stop()
        worker.stop()
        smtp.stop()
        keys_deleted(f"{prefix}*")
        connection.creation.destroy_test_db(old_name, verbosity=0)

    result = {
        "benchmark": "email_latency",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "members_added": len(members),
        "api_concurrency": args.concurrency,
        "emails_received": len(mails),
        "duplicates": len(mails) - len({m.message_id for m in mails}),
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 1),
            "p99": round(percentile(latencies, 99), 1),
            "max": round(max(latencies), 1),
            "min": round(min(latencies), 1),
        },
        "api_call_ms": {"p50": round(percentile(api_ms, 50), 1), "p99": round(percentile(api_ms, 99), 1)},
        "api_calls_seconds": round(api_seconds, 2),
        "setup": {
            "worker": "celery prefork, concurrency 2, queues default,email,reports, prefetch 1, acks_late",
            "smtp": "aiosmtpd in the bench process, loopback",
            "web": "uvicorn, 1 process",
            "machine": machine(),
        },
    }
    lat = result["latency_ms"]
    print(
        f"{len(mails)} emails for {len(members)} members added (concurrency {args.concurrency}): "
        f"API call -> SMTP arrival p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms "
        f"(API call p50 {result['api_call_ms']['p50']} ms); duplicates {result['duplicates']}"
    )
    results_write("email_latency", result)
