"""Test helpers: a real Centrifugo subprocess on a free port, reading the test database's
outbox, and a centrifuge-python client on its own thread. Used by realtime and web tests
and by the benchmark."""

import asyncio
import contextlib
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cent
import httpx
from centrifuge import Client, ClientEventHandler, SubscriptionEventHandler
from django.conf import settings
from django.db import connection

from core.database import database_url
from ops.centrifugo import centrifugo_binary, config_write, node_environment, outbox_overrides
from testing.processes import free_port, process_stop
from testing.redis_keys import keys_deleted


class CentrifugoServer:
    """One Centrifugo process; `stop()` and `start()` again keep its port and config.

    Its outbox consumer reads the database Django is connected to now (the test database
    inside a pytest session), so only one may run at a time: two would share the rows.
    """

    def __init__(
        self,
        *,
        engine: str = "memory",
        origin: str = "",
        redis_prefix: str = "",
        workdir: Path | None = None,
        log_level: str = "info",
        port: int | None = None,
        internal_port: int | None = None,
        database_dsn: str = "",
        redis_url: str = "",
        node_name: str = "",
        outbox: dict[str, Any] | None = None,
        debug: bool = False,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.engine = engine
        self.environment = environment or {}
        # The client port (WebSocket; testing.site.SiteServer's nginx proxies its own to it)
        # and the internal one: server API, admin, health, metrics.
        self.port = port or free_port()
        self.internal_port = internal_port or free_port()
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="centrifugo-"))
        self.config_path = self.workdir / "config.json"
        self.log_path = self.workdir / "centrifugo.log"
        overrides: dict[str, Any] = {
            "port": self.port,
            "internal_port": str(self.internal_port),
            "engine": engine,
            # Another database or Redis than the test run's (the fault tests' own servers).
            "database_dsn": database_dsn or database_url(connection.settings_dict, sslmode="disable"),
            "log_level": log_level,
        }
        if redis_url:
            overrides["redis_addresses"] = [redis_url]
        if origin:
            overrides["site_origins"] = [origin]
        if redis_prefix:
            overrides["redis_prefix"] = redis_prefix
        if node_name:
            overrides["node_name"] = node_name
        if debug:  # Go's profiler on the internal port (bench.go_profile)
            overrides["debug"] = True
        config_write(self.config_path, **overrides, **(outbox or {}))
        self.process: subprocess.Popen | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/connection/websocket"

    @property
    def internal_url(self) -> str:
        return f"http://127.0.0.1:{self.internal_port}"

    @property
    def api_url(self) -> str:
        return f"{self.internal_url}/api"

    def start(self, timeout: float = 15) -> None:
        # Centrifugo takes CENTRIFUGO_* variables and a .env in its directory as config;
        # the project's variables of that name mean something else.
        env = {key: value for key, value in os.environ.items() if not key.startswith("CENTRIFUGO_")}
        env |= self.environment
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(centrifugo_binary()), "--config", str(self.config_path)],
            cwd=self.workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Centrifugo exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.internal_url}/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"Centrifugo did not start: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process:
            process_stop(self.process)
        self.process = None

    def api(self, api_key: str | None = None) -> cent.Client:
        """A client of Centrifugo's server API (cent), with the configured key by default."""
        return cent.Client(self.api_url, api_key=settings.CENTRIFUGO_HTTP_API_KEY if api_key is None else api_key)


def redis_keys_deleted(prefix: str) -> None:
    """Deletes what Centrifugo's Redis engine kept under `prefix` (`<prefix>.stream.<channel>`
    and its meta): history lives for days after its Centrifugo stops, and a bench run left
    some 11,000 keys on the shared Redis."""
    keys_deleted(f"{prefix}.*")


class CentrifugoNodes:
    """Several Centrifugo processes of one machine on the Redis engine, as `make run` starts
    them when one process cannot hold EDGE_MAX_WEBSOCKETS within its descriptor limit
    (ops.centrifugo.node_count); nginx spreads /connection/ over their `ports`. With one
    node, the memory engine, as `make run` has it. `api_url` and the rest are node 0's."""

    def __init__(
        self,
        *,
        ports: list[int],
        internal_ports: list[int],
        workdir: Path,
        redis_prefix: str = "",
        engine: str = "memory",
        **options: Any,
    ) -> None:
        several = len(ports) > 1
        self.nodes = [
            CentrifugoServer(
                port=port,
                internal_port=internal_port,
                workdir=workdir / f"node{n}",
                engine="redis" if several else engine,
                redis_prefix=redis_prefix or f"centrifugo-{os.getpid()}",
                node_name=f"centrifugo{n + 1}" if several else "",
                outbox=outbox_overrides(n),
                environment=node_environment(len(ports)),
                **options,
            )
            for n, (port, internal_port) in enumerate(zip(ports, internal_ports, strict=True))
        ]

    def __getattr__(self, name: str) -> Any:
        if name == "nodes":
            raise AttributeError(name)
        return getattr(self.nodes[0], name)  # ws_url, internal_url, api_url, api(), process

    @property
    def pids(self) -> list[int]:
        return [node.process.pid for node in self.nodes if node.process]

    def start(self, timeout: float = 15) -> None:
        try:
            for node in self.nodes:
                node.start(timeout=timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class ChannelClient:
    """A centrifuge-python client subscribed to one channel, running on its own thread.

    It records every publication's data and every subscribe outcome, so a test can wait
    for them from the (synchronous) test thread.
    """

    def __init__(
        self,
        *,
        url: str,
        channel: str,
        token: Callable[[], str],
        sub_token: Callable[[], str] | None = None,
        max_reconnect_delay: float = 1.0,
    ):
        self.url = url
        self.channel = channel
        self.token = token
        self.sub_token = sub_token
        self.max_reconnect_delay = max_reconnect_delay
        self.publications: list[Any] = []
        self.subscribed: list[dict[str, bool]] = []
        self.errors: list[Any] = []
        self.unsubscribed: list[tuple[int, str]] = []
        # ("publication", data) and ("subscribed", outcome) in arrival order: a gap the
        # client is told of (not recovered) covers the publications before it.
        self.timeline: list[tuple[str, Any]] = []
        self.disconnected: list[tuple[int, str]] = []
        self.connected = threading.Event()
        self._lock = threading.RLock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._client: Client | None = None

    def __enter__(self) -> "ChannelClient":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _close(self) -> None:
        await self._client.disconnect()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _start(self) -> None:
        outer = self

        class Events(ClientEventHandler):
            async def on_connected(self, ctx) -> None:
                outer.connected.set()

            async def on_disconnected(self, ctx) -> None:
                outer.connected.clear()
                with outer._lock:
                    outer.disconnected.append((ctx.code, ctx.reason))

            async def on_connecting(self, ctx) -> None:
                outer.connected.clear()

            async def on_error(self, ctx) -> None:
                with outer._lock:
                    outer.errors.append(ctx)

        class SubEvents(SubscriptionEventHandler):
            async def on_publication(self, ctx) -> None:
                with outer._lock:
                    outer.publications.append(ctx.pub.data)
                    outer.timeline.append(("publication", ctx.pub.data))

            async def on_subscribed(self, ctx) -> None:
                with outer._lock:
                    outcome = {"was_recovering": ctx.was_recovering, "recovered": ctx.recovered}
                    outer.subscribed.append(outcome)
                    outer.timeline.append(("subscribed", outcome))

            async def on_unsubscribed(self, ctx) -> None:
                with outer._lock:
                    outer.unsubscribed.append((ctx.code, ctx.reason))

            async def on_error(self, ctx) -> None:
                with outer._lock:
                    outer.errors.append(ctx)

        async def get_token() -> str:
            return self.token()

        self._client = Client(
            self.url,
            events=Events(),
            get_token=get_token,
            max_reconnect_delay=self.max_reconnect_delay,
            proxy=None,
        )

        async def get_sub_token(channel: str) -> str:
            return self.sub_token()

        sub = self._client.new_subscription(
            self.channel,
            events=SubEvents(),
            recoverable=True,
            positioned=True,
            get_token=get_sub_token if self.sub_token else None,
        )
        await self._client.connect()
        await sub.subscribe()

    def wait_for(self, predicate: Callable[["ChannelClient"], bool], timeout: float = 15) -> bool:
        """Waits until `predicate(self)` holds; returns whether it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(self):
                    return True
            time.sleep(0.02)
        with self._lock:
            return predicate(self)

    def events(self, type: str | None = None) -> list[dict]:
        with self._lock:
            return [p for p in self.publications if isinstance(p, dict) and (type is None or p.get("type") == type)]
