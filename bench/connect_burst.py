"""Connecting many clients at once, per transport, through nginx: how many are refused and how
long it takes, with the current nginx template and with another one side by side (issue 16).

Each client has its own account and its own loopback source address (127.0.x.y: one client
per address, as on the Internet), and all start at the same moment:
- ws: asks for a connection token (`/api/realtime/token/`), then opens a WebSocket through
  nginx and sends Centrifugo's connect command; connected when the connect reply arrives;
- sse: opens `/api/updates/stream/`; connected when the answer's headers arrive;
- longpoll: its first poll (`/api/updates/?wait=0`), which gives it its cursor.

    python -m bench connect-burst --clients 1000 --compare-template main
the app refuses a request that waited longer than REQUEST_QUEUE_TIMEOUT_MS for a thread
(--queue-timeout-ms, production's 75 by default); the token requests wait up to
REQUEST_QUEUE_PATIENT_TIMEOUT_MS, paced by nginx (TOKEN_ISSUE_RATE). The compared revision
runs with its own nginx template and without the longer token budget (as it was before
it). Stops by itself.
"""

import argparse
import asyncio
import json
import logging
import os
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.settings.test")
os.environ.setdefault("TEST_DATABASE_NAME", "bench_connect_burst")

import django

django.setup()

import httpx  # noqa: E402
import websockets  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

import ops.serving  # noqa: E402
from bench.measure import client_address  # noqa: E402


async def ws_client(site_url: str, n: int, key: str) -> str:
    transport = httpx.AsyncHTTPTransport(local_address=client_address(n))
    async with httpx.AsyncClient(transport=transport, timeout=60) as http:
        response = await http.get(f"{site_url}/api/realtime/token/", headers={"Authorization": f"Token {key}"})
    if response.status_code != 200:
        return f"token {response.status_code}"
    token = response.json()["token"]
    url = site_url.replace("http://", "ws://") + "/connection/websocket"
    try:
        async with websockets.connect(
            url, origin=site_url, local_addr=(client_address(n), 0), open_timeout=60, close_timeout=1
        ) as ws:
            await ws.send(json.dumps({"id": 1, "connect": {"token": token}}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 60))
            return "ok" if "connect" in reply else f"error {reply.get('error')}"
    except websockets.InvalidStatus as exc:
        return f"websocket {exc.response.status_code}"
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:
        return type(exc).__name__


async def sse_client(site_url: str, n: int, key: str) -> str:
    transport = httpx.AsyncHTTPTransport(local_address=client_address(n))
    async with httpx.AsyncClient(transport=transport, timeout=60) as http:
        headers = {"Authorization": f"Token {key}", "Accept": "text/event-stream"}
        async with http.stream("GET", f"{site_url}/api/updates/stream/", headers=headers) as response:
            return "ok" if response.status_code == 200 else str(response.status_code)


async def longpoll_client(site_url: str, n: int, key: str) -> str:
    transport = httpx.AsyncHTTPTransport(local_address=client_address(n))
    async with httpx.AsyncClient(transport=transport, timeout=60) as http:
        response = await http.get(f"{site_url}/api/updates/?wait=0", headers={"Authorization": f"Token {key}"})
        return "ok" if response.status_code == 200 else str(response.status_code)


CLIENTS = {"ws": ws_client, "sse": sse_client, "longpoll": longpoll_client}


async def burst(kind: str, site_url: str, keys: list[str]) -> dict:
    async def one(n: int, key: str) -> str:
        try:
            return await CLIENTS[kind](site_url, n, key)
        except httpx.HTTPError as exc:
            return type(exc).__name__

    started = time.monotonic()
    outcomes = await asyncio.gather(*(one(n, key) for n, key in enumerate(keys)))
    return {"seconds": round(time.monotonic() - started, 2), "outcomes": dict(Counter(outcomes))}


def run(template: Path, keys: list[str], workdir: Path, queue_timeout_ms: int, *, patient: bool = True) -> dict:
    from testing.centrifugo import CentrifugoServer
    from testing.site import SiteServer

    ops.serving.NGINX_TEMPLATE = template
    workdir.mkdir(parents=True, exist_ok=True)
    site = SiteServer(workdir=workdir)
    env = {"REQUEST_QUEUE_TIMEOUT_MS": str(queue_timeout_ms)}
    if not patient:
        env["REQUEST_QUEUE_PATIENT_TIMEOUT_MS"] = "0"  # every request has the one budget
    site.start(**env)
    centrifugo = CentrifugoServer(
        origin=site.url, port=site.centrifugo_port, internal_port=site.centrifugo_internal_port, workdir=workdir / "c"
    )
    centrifugo.start()
    log = workdir / "nginx" / "nginx-error.log"
    try:
        results = {}
        for kind in CLIENTS:
            before = log.read_text().count("limiting ") if log.exists() else 0
            results[kind] = asyncio.run(burst(kind, site.url, keys))
            # Which 503s nginx made itself (its limits), the rest are the app's (queue bound).
            results[kind]["refused_by_nginx"] = (log.read_text().count("limiting ") if log.exists() else 0) - before
        return results
    finally:
        centrifugo.stop()
        site.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--queue-timeout-ms", type=int, default=75)
    parser.add_argument("--compare-template", default="", help="a git revision whose nginx template runs first")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from accounts.models import User
    from accounts.services import tokens_create

    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        users = User.objects.bulk_create(
            [User(username=f"burst{n}", email=f"burst{n}@example.com") for n in range(args.clients)]
        )
        by_user = tokens_create(users=users)
        keys = [by_user[user.pk] for user in users]
        results = {}
        with tempfile.TemporaryDirectory(prefix="connect-burst-") as tmp:
            templates = {"current": ops.serving.NGINX_TEMPLATE}
            if args.compare_template:
                old = Path(tmp) / "old.conf.template"
                old.write_text(
                    subprocess.run(
                        ["git", "show", f"{args.compare_template}:deploy/nginx/nginx.conf.template"],
                        capture_output=True,
                        text=True,
                        check=True,
                        cwd=settings.BASE_DIR,
                    ).stdout
                )
                templates = {args.compare_template: old} | templates
            for label, template in templates.items():
                patient = label == "current"
                results[label] = run(template, keys, Path(tmp) / label, args.queue_timeout_ms, patient=patient)
                print(label, json.dumps(results[label]), flush=True)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
