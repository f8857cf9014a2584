"""The fault tests' stack and load: every process of `make run` on servers of the test's own,
a bounded load through nginx, real receivers on every transport, and the counts at the end.

`FaultStack` runs a throwaway PostgreSQL cluster (initdb as the postgres user, as
scripts/services.sh does) and a Redis on free ports, so that stopping them touches nothing
shared; on them nginx + granian + uvicorn (testing.site.SiteServer), Centrifugo, a Celery
worker, celery beat and an SMTP server. The test process reaches the stack through HTTP only
(and psycopg to its database for the expected emails): its own Django database is not used.

`LoadRun` posts messages and adds members at a fixed rate for a bounded time, retrying a
failed POST with the same `client_id` (the API returns the first message for a repeat) and
a failed member add until it is answered, while one user reads the chat on every transport:
WebSocket (centrifuge-python on `chat:<id>` with a subscription token), SSE, long polling
and polling, all through nginx. `LoadRun.counts()` says, per transport, how many accepted
messages were delivered, lost and duplicated; and emails expected against received.
"""

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg

from .background import CELERY, QUEUES, ROOT, CeleryWorker, SmtpServer, background_env
from .processes import GroupProcess, free_port, process_stop, wait_until
from .site import SiteServer

logger = logging.getLogger(__name__)

PG_BIN = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]) if Path("/usr/lib/postgresql").exists() else None
PASSWORD = "a long fault-test passphrase"
TRANSPORTS = ("websocket", "sse", "longpoll", "poll")


def _as_postgres(command: list[str]) -> list[str]:
    """initdb and the server refuse root: run them as the postgres user, as services.sh does."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresCluster:
    """A PostgreSQL cluster of the test's own (trust auth, loopback only, no fsync)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fault-pg-", dir="/tmp"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgres://messenger@127.0.0.1:{self.port}/messenger"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = _as_postgres([str(PG_BIN / args[0]), *args[1:]])
        subprocess.run(command, check=True, timeout=timeout, capture_output=True)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "messenger", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "messenger", "messenger")

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data} -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.data / "server.log"), "-w", "-o", options, "start")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(sql, params or [])
            return cursor.fetchall() if cursor.description else []


class RedisServer:
    """A Redis of the test's own on a free port, append-only, so a restart keeps its data
    (Celery's queues, Centrifugo's history) as a production Redis with AOF does."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="fault-redis-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", str(self.dir), "--appendonly", "yes", "--save", "", "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_until(self._ping, timeout=10, what="redis-server")

    def _cli(self, *args: str) -> list[str]:
        return [shutil.which("redis-cli") or "redis-cli", "-p", str(self.port), *args]

    def _ping(self) -> bool:
        result = subprocess.run(self._cli("ping"), capture_output=True, text=True, check=False)
        return result.stdout.strip() == "PONG"

    def stop(self) -> None:
        """SHUTDOWN writes the append-only file first (a clean restart)."""
        if self.process is None:
            return
        subprocess.run(self._cli("shutdown"), capture_output=True, check=False, timeout=10)
        process_stop(self.process)
        self.process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class BeatProcess(GroupProcess):
    """celery beat with the database scheduler, as `make run`'s [program:beat]."""

    def __init__(self, *, env: dict[str, str], log_path: Path) -> None:
        self.env, self.log_path = env, log_path

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [CELERY, "-A", "messenger", "beat", "-l", "INFO", "-s", str(self.log_path.parent / "beat-schedule"),
                 "--pidfile="],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip


def process_tree(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid] + [descendant for child in children for descendant in process_tree(int(child))]


def process_kill_tree(pid: int) -> None:
    """SIGKILL to a process and all its descendants at once (a machine losing them)."""
    for each in process_tree(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(each, signal.SIGKILL)


class FaultStack:
    """Every process of `make run`, on servers of the test's own (see the module docstring)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.postgres = PostgresCluster()
        self.redis = RedisServer()
        self.smtp = SmtpServer()
        self.site: SiteServer | None = None
        self.centrifugo: Any = None
        self.worker: CeleryWorker | None = None
        self.beat: BeatProcess | None = None
        self.prefix = f"faults-{uuid.uuid4().hex[:8]}:"
        self.site_env: dict[str, str] = {}

    @property
    def dsn(self) -> str:
        return f"{self.postgres.url}?sslmode=disable"

    def start(self) -> "FaultStack":
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> "FaultStack":
        self.postgres.init()
        self.redis.start()
        self.smtp.start()
        common = {
            "DATABASE_URL": self.postgres.url,
            "REDIS_URL": self.redis.url,
            "CELERY_KEY_PREFIX": self.prefix,
            "DJANGO_SETTINGS_MODULE": "messenger.settings.test",
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT, env=os.environ | common, check=True, timeout=300,
        )  # fmt: skip
        # The sweep that gives an email whose task was lost (broker down at commit, a task
        # that failed on the database) a new one: every 5 s here instead of 5 minutes.
        self.postgres.query(
            "update django_celery_beat_intervalschedule set every = 5, period = 'seconds' where id in"
            " (select interval_id from django_celery_beat_periodictask"
            "  where task = 'notifications.pending_emails_resend')"
        )
        self.site = SiteServer(workdir=self.workdir)
        self.site_env = common | {"REALTIME_SSE_HEARTBEAT_SECONDS": "2"}
        self.site.start(**self.site_env)
        self.centrifugo_start(engine="redis")
        worker_env = (
            background_env(smtp_port=self.smtp.port, workdir=self.workdir)
            | common
            | {
                # Retries that outlast a minute of SMTP outage (12 tries, capped at 8 s apart).
                "NOTIFICATIONS_RETRY_BACKOFF_MAX": "8",
                "NOTIFICATIONS_RESEND_PENDING_AFTER_SECONDS": "5",
                # The suite counts one email per addition; the hourly limit has tests of its own.
                "NOTIFICATIONS_MEMBER_ADDED_PER_HOUR": "1000000",
            }
        )
        self.worker = CeleryWorker(env=worker_env, log_path=self.workdir / "worker.log", name="faults", queues=QUEUES)
        self.worker.start()
        self.beat = BeatProcess(env=worker_env, log_path=self.workdir / "beat.log")
        self.beat.start()
        return self

    def centrifugo_start(self, *, engine: str) -> None:
        from testing.centrifugo import CentrifugoServer

        if self.centrifugo is not None:
            self.centrifugo.stop()
        self.centrifugo = CentrifugoServer(
            engine=engine,
            origin=self.site.url,
            port=self.site.centrifugo_port,
            internal_port=self.site.centrifugo_internal_port,
            workdir=self.workdir / f"centrifugo-{engine}",
            database_dsn=self.dsn,
            redis_url=self.redis.url,
            redis_prefix=f"{self.prefix}centrifugo",
        )
        self.centrifugo.start()

    def web_restart(self) -> None:
        self.site.web.start(**self.site_env)

    def feed_restart(self) -> None:
        self.site.feed.start(**({"DB_POOL_MAX_SIZE": "0"} | self.site_env))

    def supervise(self) -> list[str]:
        """What supervisord does for `make run`: starts again a program that exited. Returns
        the names it restarted."""
        restarted = []
        if not self.beat.alive:
            self.beat.start()
            restarted.append("beat")
        if not self.worker.alive:
            self.worker.start()
            restarted.append("worker")
        return restarted

    def stop(self) -> None:
        for stop in (
            *(part.stop for part in (self.beat, self.worker, self.centrifugo, self.site) if part is not None),
            self.smtp.stop,
            self.redis.destroy,
            self.postgres.destroy,
        ):
            try:
                stop()
            except Exception:  # stop the rest whatever one of them does
                logger.exception("stopping %s", stop)


# --- the people in a run, set up through the API -------------------------------------------


@dataclass
class Account:
    id: int
    username: str
    email: str
    token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}


def _retrying(call, *, what: str, timeout: float = 60):
    """Calls until it answers below 500 (setup must not fail on a part still restarting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = call()
            if response.status_code < 500:
                return response
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: {response.status_code} {response.text[:200]}")
        time.sleep(0.3)


def account_create(http: httpx.Client, *, token: bool = True) -> Account:
    name = f"u{uuid.uuid4().hex[:10]}"
    body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    response = _retrying(lambda: http.post("/api/auth/register/", json=body), what="register")
    assert response.status_code == 202, response.text  # the same answer for a taken name: no id
    account = Account(id=0, username=name, email=body["email"])
    key = token_get(http, account)
    account.id = http.get("/api/me/", headers={"Authorization": f"Token {key}"}).json()["id"]
    if token:
        account.token = key
    return account


def token_get(http: httpx.Client, account: Account) -> str:
    body = {"username": account.username, "password": PASSWORD}
    response = _retrying(lambda: http.post("/api/auth/token/", json=body), what="token")
    assert response.status_code == 200, response.text
    return response.json()["token"]


@dataclass
class World:
    """A chat with an owner (who posts and adds), an admin (who gets the emails), a reader
    (who reads on every transport) and people to add."""

    chat_id: int
    owner: Account
    admin: Account
    reader: Account
    to_add: list[Account]


def email_verify(http: httpx.Client, smtp: SmtpServer, account: Account) -> None:
    """Opens the link of the account's verification email, as its owner would: only a
    verified address gets the member-added emails."""

    def links(mails) -> list[str]:
        return [
            match.group(0)
            for mail in mails
            if account.email in mail.rcpt_tos
            for match in [re.search(r"https?://\S+/verify-email/\S+/", mail.body("plain"))]
            if match
        ]

    link = links(smtp.wait_for(lambda mails: links(mails), timeout=60))[0]
    response = _retrying(lambda: http.get(urlsplit(link).path), what="verify")
    assert response.status_code == 200, response.text


def world_create(base_url: str, *, adds: int, smtp: SmtpServer) -> World:
    with httpx.Client(base_url=base_url, timeout=10) as http:
        owner, admin, reader = (account_create(http) for _ in range(3))
        email_verify(http, smtp, admin)
        body = {"title": "faults", "member_ids": [reader.id]}
        chat = _retrying(lambda: http.post("/api/chats/", json=body, headers=owner.headers), what="chat")
        assert chat.status_code == 201, chat.text
        chat_id = chat.json()["id"]
        added = _retrying(
            lambda: http.post(
                f"/api/chats/{chat_id}/members/", json={"user_id": admin.id, "role": "admin"}, headers=owner.headers
            ),
            what="admin",
        )
        assert added.status_code == 201, added.text
        to_add = [account_create(http, token=False) for _ in range(adds)]
    return World(chat_id=chat_id, owner=owner, admin=admin, reader=reader, to_add=to_add)


# --- receivers -----------------------------------------------------------------------------


@dataclass
class Tally:
    """What one receiver got: message ids as they arrived, and ids it fetched over REST after
    a gap it was told of (what the page's `onResync` does)."""

    live: list[int] = field(default_factory=list)
    rest: set[int] = field(default_factory=set)
    gaps: int = 0
    reconnects: int = 0
    errors: Counter = field(default_factory=Counter)

    def delivered(self) -> set[int]:
        return set(self.live) | self.rest

    def count(self, accepted: set[int]) -> dict[str, int]:
        arrived = Counter(self.live)
        delivered = self.delivered()
        return {
            "accepted": len(accepted),
            "delivered": len(accepted & delivered),
            "delivered_via_rest": len((accepted & self.rest) - set(arrived)),
            "lost": len(accepted - delivered),
            "duplicated": sum(n - 1 for n in arrived.values()),
            # Committed but never answered 2xx to the poster (never seen so far: a POST is
            # retried with its client_id until it is answered).
            "unaccepted_delivered": len(delivered - accepted),
            "reconnects": self.reconnects,
            "gaps_told": self.gaps,
        }


def _retry_after(response: httpx.Response) -> float:
    """What a well-behaved client waits before retrying a 503 or 429: the server's Retry-After."""
    try:
        return max(0.5, float(response.headers.get("retry-after", "0.5")))
    except ValueError:
        return 0.5


def _keyed(counter: Counter) -> dict[str, int]:
    return {str(key): value for key, value in sorted(counter.items(), key=str)}


def _message_ids(events: list[dict]) -> list[int]:
    return [event["data"]["id"] for event in events if event.get("type") == "message.created"]


class LoadRun:
    """Bounded load and the four receivers on an asyncio loop in a thread of its own; the
    test's thread injects the fault meanwhile. `start()`, then `finish()` returns the counts."""

    def __init__(
        self,
        stack: FaultStack,
        world: World,
        *,
        seconds: float,
        messages_per_second: float = 5,
        adds_per_second: float = 1,
    ) -> None:
        self.stack, self.world = stack, world
        self.base_url = stack.site.url
        self.seconds = seconds
        self.messages = int(seconds * messages_per_second)
        self.message_rate = messages_per_second
        self.adds = min(int(seconds * adds_per_second), len(world.to_add))
        self.add_rate = adds_per_second
        self.accepted: dict[int, str] = {}  # message id → client_id
        self.post_failures: Counter = Counter()
        self.post_statuses: Counter = Counter()
        self.added: list[int] = []  # user ids
        self.add_statuses: Counter = Counter()
        self.tallies = {name: Tally() for name in TRANSPORTS}
        self.load_done = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="fault-load", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.ws: Any = None

    # The WebSocket receiver: its own thread (testing.centrifugo.ChannelClient).
    def _token(self, path: str) -> str:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(f"{self.base_url}{path}", headers=self.world.reader.headers, timeout=5)
                if response.status_code == 200:
                    return response.json()["token"]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no token from {path}")
            time.sleep(0.5)

    def start(self) -> "LoadRun":
        from testing.centrifugo import ChannelClient

        self.ws = ChannelClient(
            url=f"ws://127.0.0.1:{self.stack.site.port}/connection/websocket",
            channel=f"chat:{self.world.chat_id}",
            token=lambda: self._token("/api/realtime/token/"),
            sub_token=lambda: self._token(f"/api/realtime/subscription-token/?channel=chat:{self.world.chat_id}"),
        ).__enter__()
        assert self.ws.wait_for(lambda c: c.subscribed, timeout=20), "the WebSocket client did not subscribe"
        self._thread.start()
        if not self._ready.wait(30):
            raise TimeoutError("the receivers did not start")
        if self._error:
            raise self._error
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the test's thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10, limits=limits) as http:
            reader = self.world.reader.headers
            start = await self._head(http, reader)
            receivers = [
                asyncio.create_task(self._sse(http, start)),
                asyncio.create_task(self._long_poll(http, start)),
                asyncio.create_task(self._poll(http, start)),
            ]
            await asyncio.sleep(1)  # the SSE stream and the long poll are waiting
            self._ready.set()
            await asyncio.gather(self._post_all(http), self._add_all(http))
            self.load_done.set()
            await self._stop.wait()
            for task in receivers:
                task.cancel()
            await asyncio.gather(*receivers, return_exceptions=True)

    async def _head(self, http: httpx.AsyncClient, headers: dict[str, str]) -> int:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                response = await http.get("/api/updates/", headers=headers)
                if response.status_code == 200:
                    return response.json()["cursor"]
            await asyncio.sleep(0.3)

    async def _post_all(self, http: httpx.AsyncClient) -> None:
        started = time.monotonic()
        tasks = []
        for number in range(self.messages):
            await asyncio.sleep(max(0.0, started + number / self.message_rate - time.monotonic()))
            tasks.append(asyncio.create_task(self._post(http, number)))
        await asyncio.gather(*tasks)

    async def _post(self, http: httpx.AsyncClient, number: int) -> None:
        client_id = uuid.uuid4().hex
        body = {"text": f"load {number}", "client_id": client_id}
        url = f"/api/chats/{self.world.chat_id}/messages/"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                response = await http.post(url, json=body, headers=self.world.owner.headers)
            except httpx.HTTPError as exc:
                self.post_statuses[type(exc).__name__] += 1
            else:
                self.post_statuses[response.status_code] += 1
                if response.status_code in (200, 201):
                    self.accepted[response.json()["id"]] = client_id
                    return
                if response.status_code < 500 and response.status_code != 429:
                    self.post_failures[response.status_code] += 1
                    return
                await asyncio.sleep(_retry_after(response))
                continue
            await asyncio.sleep(0.5)
        self.post_failures["gave up"] += 1

    async def _add_all(self, http: httpx.AsyncClient) -> None:
        started = time.monotonic()
        for number in range(self.adds):
            await asyncio.sleep(max(0.0, started + number / self.add_rate - time.monotonic()))
            await self._add(http, self.world.to_add[number])

    async def _add(self, http: httpx.AsyncClient, account: Account) -> None:
        url = f"/api/chats/{self.world.chat_id}/members/"
        tried = False
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                response = await http.post(url, json={"user_id": account.id}, headers=self.world.owner.headers)
            except httpx.HTTPError as exc:
                self.add_statuses[type(exc).__name__] += 1
            else:
                self.add_statuses[response.status_code] += 1
                # 409 after a try that got no answer: that try committed.
                if response.status_code == 201 or (response.status_code == 409 and tried):
                    self.added.append(account.id)
                    return
                if response.status_code < 500:
                    return
                tried = True
                await asyncio.sleep(_retry_after(response))
                continue
            tried = True
            await asyncio.sleep(0.5)

    async def _sse(self, http: httpx.AsyncClient, start: int) -> None:
        tally, last = self.tallies["sse"], start
        first = True
        while True:
            headers = self.world.reader.headers | {"Last-Event-ID": str(last)}
            try:
                async with http.stream("GET", "/api/updates/stream/", headers=headers, timeout=30) as response:
                    if response.status_code != 200:
                        tally.errors[response.status_code] += 1
                    else:
                        if not first:
                            tally.reconnects += 1
                        first = False
                        data: list[str] = []
                        event_id = None
                        async for line in response.aiter_lines():
                            if line.startswith("id:"):
                                event_id = int(line[3:].strip())
                            elif line.startswith("data:"):
                                data.append(line[5:].strip())
                            elif not line and data:
                                envelope = httpx.Response(200, content="\n".join(data)).json()
                                tally.live.extend(_message_ids([envelope]))
                                last = event_id or last
                                data = []
                        tally.errors["stream ended"] += 1
            except httpx.HTTPError as exc:
                tally.errors[type(exc).__name__] += 1
            await asyncio.sleep(0.5)

    async def _long_poll(self, http: httpx.AsyncClient, start: int) -> None:
        tally, cursor = self.tallies["longpoll"], start
        while True:
            try:
                response = await http.get(
                    "/api/updates/", params={"after": cursor, "wait": 20}, headers=self.world.reader.headers, timeout=30
                )
            except httpx.HTTPError as exc:
                tally.errors[type(exc).__name__] += 1
                tally.reconnects += 1
                await asyncio.sleep(0.5)
                continue
            if response.status_code != 200:
                tally.errors[response.status_code] += 1
                await asyncio.sleep(0.5)
                continue
            page = response.json()
            tally.live.extend(_message_ids(page["events"]))
            cursor = page["cursor"]

    async def _poll(self, http: httpx.AsyncClient, start: int) -> None:
        tally, cursor = self.tallies["poll"], start
        while True:
            try:
                response = await http.get("/api/updates/", params={"after": cursor}, headers=self.world.reader.headers)
                if response.status_code == 200:
                    page = response.json()
                    tally.live.extend(_message_ids(page["events"]))
                    cursor = page["cursor"]
                    if len(page["events"]) >= 100:
                        continue  # a full page: ask again at once
                else:
                    tally.errors[response.status_code] += 1
            except httpx.HTTPError as exc:
                tally.errors[type(exc).__name__] += 1
            await asyncio.sleep(0.5)

    # --- the end of a run ------------------------------------------------------------------

    def _ws_collect(self) -> None:
        """The WebSocket client's publications; after each resubscribe that was not
        recovered from history, the messages after the last one it had, over REST."""
        tally = self.tallies["websocket"]
        with self.ws._lock:
            timeline = list(self.ws.timeline)
        # A dropped connection is "connecting" again, not "disconnected": count resubscribes.
        tally.reconnects = max(0, sum(1 for kind, _ in timeline if kind == "subscribed") - 1)
        tally.live = []
        seen = 0
        gaps_after: list[int] = []
        for kind, value in timeline:
            if kind == "publication" and isinstance(value, dict):
                ids = _message_ids([value])
                tally.live.extend(ids)
                seen = max([seen, *ids])
            elif kind == "subscribed" and value["was_recovering"] and not value["recovered"]:
                gaps_after.append(seen)
        tally.gaps = len(gaps_after)
        for after in gaps_after:
            tally.rest |= self._messages_after(after)

    def _messages_after(self, after: int) -> set[int]:
        found: set[int] = set()
        with httpx.Client(base_url=self.base_url, timeout=10, headers=self.world.reader.headers) as http:
            url = f"/api/chats/{self.world.chat_id}/messages/"
            while True:
                params = {"after": after, "limit": 100}
                response = _retrying(lambda params=params: http.get(url, params=params), what="REST catch-up")
                page = response.json()
                found |= {message["id"] for message in page["results"]}
                if not page["has_newer"] or not page["results"]:
                    return found
                after = page["results"][-1]["id"]

    def converged(self) -> bool:
        accepted = set(self.accepted)
        self._ws_collect()
        return all(accepted <= tally.delivered() for tally in self.tallies.values())

    def emails_expected(self) -> set[str]:
        if not self.added:
            return set()
        rows = self.stack.postgres.query(
            "select id from chats_membership where chat_id = %s and user_id = any(%s)", [self.world.chat_id, self.added]
        )
        return {f"<member-added.{membership_id}.{self.world.admin.id}@" for (membership_id,) in rows}

    def emails_received(self) -> list[str]:
        return [
            mail.message_id.rsplit("@", 1)[0] + "@"
            for mail in self.stack.smtp.mails
            if mail.message_id.startswith("<member-added.")
        ]

    def finish(self, *, timeout: float = 60) -> dict[str, Any]:
        """Waits for the load to end and every receiver and email to catch up (or `timeout`),
        stops the receivers, and returns the counts."""
        if not self.load_done.wait(timeout=self.seconds + 120):
            raise TimeoutError("the load did not end")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.converged():
            time.sleep(0.5)
        expected = self.emails_expected()
        while time.monotonic() < deadline + 30 and not expected <= set(self.emails_received()):
            time.sleep(0.5)
        time.sleep(1)  # a late duplicate would arrive now
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self.converged()
        self.ws.__exit__(None, None, None)
        accepted = set(self.accepted)
        received = Counter(self.emails_received())
        return {
            "transports": {name: tally.count(accepted) for name, tally in self.tallies.items()},
            "errors_seen": {name: _keyed(tally.errors) for name, tally in self.tallies.items() if tally.errors},
            "posts": {"statuses": _keyed(self.post_statuses), "failed": dict(self.post_failures)},
            "member_adds": {"accepted": len(self.added), "statuses": _keyed(self.add_statuses)},
            "emails": {
                "expected": len(expected),
                "received": len(expected & set(received)),
                "lost": len(expected - set(received)),
                "duplicated": sum(n - 1 for n in received.values()),
            },
        }
