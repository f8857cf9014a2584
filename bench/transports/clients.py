"""Load-generating clients for each transport, on asyncio raw streams so that 1,000 of them
fit in one process. Each counts its requests and the bytes it writes and reads (HTTP
headers and chunk framing included; TCP/IP headers not) and the delivery latency of every
event: arrival time minus the event's `ts` (set when its row was inserted)."""

import asyncio
import contextlib
import json
import random
from dataclasses import dataclass, field
from datetime import datetime
from time import time


@dataclass
class Stats:
    requests: int = 0
    responses: int = 0
    bytes: int = 0
    delivered: int = 0
    errors: int = 0
    # Answers other than 200 by status (503, 429, ...), and events a client got twice.
    refused: dict[int, int] = field(default_factory=dict)
    duplicates: int = 0
    latencies: list[float] = field(default_factory=list)
    # Only events created inside the measured window count.
    window_start: float = float("inf")
    window_end: float = float("inf")

    def reset(self, start: float) -> None:
        self.requests = self.responses = self.bytes = self.delivered = self.errors = self.duplicates = 0
        self.refused = {}
        self.latencies = []
        self.window_start, self.window_end = start, float("inf")

    def event(self, envelope: dict, seen: set[int] | None = None) -> None:
        created = datetime.fromisoformat(envelope["ts"]).timestamp()
        if seen is not None:
            if envelope["id"] in seen:
                if self.window_start <= created <= self.window_end:
                    self.duplicates += 1
                return
            seen.add(envelope["id"])
        if self.window_start <= created <= self.window_end:
            self.delivered += 1
            self.latencies.append(time() - created)


class HttpConnection:
    """One keep-alive HTTP/1.1 connection that counts bytes."""

    def __init__(self, host: str, port: int, stats: Stats) -> None:
        self.host, self.port, self.stats = host, port, stats
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _ensure(self) -> None:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def _send(self, path: str, headers: dict[str, str]) -> None:
        await self._ensure()
        lines = [f"GET {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.writer.write(data)
        self.stats.requests += 1
        self.stats.bytes += len(data)

    async def _head(self) -> tuple[int, dict[str, str]]:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        self.stats.bytes += len(raw)
        status_line, *header_lines = raw.decode("latin1").split("\r\n")
        headers = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        return int(status_line.split()[1]), headers

    async def _chunks(self):
        while True:
            size_line = await self.reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            data = await self.reader.readexactly(size + 2)
            self.stats.bytes += len(size_line) + len(data)
            if size == 0:
                return
            yield data[:-2]

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        await self._send(path, headers)
        status, response_headers = await self._head()
        if "content-length" in response_headers:
            body = await self.reader.readexactly(int(response_headers["content-length"]))
            self.stats.bytes += len(body)
        elif response_headers.get("transfer-encoding") == "chunked":
            body = b"".join([chunk async for chunk in self._chunks()])
        else:
            body = await self.reader.read()
            self.stats.bytes += len(body)
            self.close()
        if response_headers.get("connection", "").lower() == "close":
            self.close()
        self.stats.responses += 1
        return status, response_headers, body

    async def stream(self, path: str, headers: dict[str, str]):
        """The body of a streaming answer, chunk by chunk as the server flushes it."""
        await self._send(path, headers)
        status, response_headers = await self._head()
        self.stats.responses += 1
        if status != 200:
            raise RuntimeError(f"stream answered {status}")
        if response_headers.get("transfer-encoding") == "chunked":
            async for chunk in self._chunks():
                yield chunk
        else:
            while data := await self.reader.read(65536):
                self.stats.bytes += len(data)
                yield data


def _sse_data(buffer: bytearray) -> list[str]:
    """Complete events' data lines, removed from the buffer."""
    out = []
    while (end := buffer.find(b"\n\n")) >= 0:
        block = bytes(buffer[:end]).decode()
        del buffer[: end + 2]
        data = [line[5:].lstrip() for line in block.split("\n") if line.startswith("data:")]
        if data:
            out.append("\n".join(data))
    return out


async def _sse_envelopes(connection: HttpConnection, path: str, headers: dict[str, str]):
    """The events of an SSE stream, parsed, as they arrive."""
    buffer = bytearray()
    async for chunk in connection.stream(path, headers):
        buffer += chunk
        for data in _sse_data(buffer):
            yield json.loads(data)


async def _guard(stats: Stats, client) -> None:
    """Runs a client until cancelled; a failure is counted and the client starts over."""
    while True:
        try:
            await client()
        except asyncio.CancelledError:
            raise
        except Exception:
            stats.errors += 1
            await asyncio.sleep(0.5)


def django_poll(*, host, port, token: str, cursor: int, interval: float, stats: Stats):
    state = {"cursor": cursor}
    auth = {"Authorization": f"Token {token}"}

    async def run() -> None:
        connection = HttpConnection(host, port, stats)
        try:
            await asyncio.sleep(random.uniform(0, interval))
            loop = asyncio.get_running_loop()
            while True:
                started = loop.time()
                status, _, body = await connection.get(f"/api/updates/?after={state['cursor']}", auth)
                if status != 200:
                    raise RuntimeError(f"poll answered {status}")
                page = json.loads(body)
                for envelope in page["events"]:
                    stats.event(envelope)
                state["cursor"] = page["cursor"]
                await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
        finally:
            connection.close()

    return lambda: _guard(stats, run)


def django_long_poll(*, host, port, token: str, cursor: int, stats: Stats, wait: int = 30):
    state = {"cursor": cursor}
    auth = {"Authorization": f"Token {token}"}
    seen: set[int] = set()

    async def run() -> None:
        connection = HttpConnection(host, port, stats)
        try:
            while True:
                path = f"/api/updates/?after={state['cursor']}&wait={wait}"
                status, _, body = await connection.get(path, auth)
                if status != 200:
                    stats.refused[status] = stats.refused.get(status, 0) + 1
                    raise RuntimeError(f"long poll answered {status}")
                page = json.loads(body)
                for envelope in page["events"]:
                    stats.event(envelope, seen)
                state["cursor"] = page["cursor"]
        finally:
            connection.close()

    return lambda: _guard(stats, run)


def django_sse(*, host, port, token: str, cursor: int, stats: Stats):
    state = {"cursor": cursor}
    headers = {"Authorization": f"Token {token}", "Accept": "text/event-stream"}
    seen: set[int] = set()

    async def run() -> None:
        connection = HttpConnection(host, port, stats)
        try:
            async for envelope in _sse_envelopes(connection, f"/api/updates/stream/?after={state['cursor']}", headers):
                stats.event(envelope, seen)
                state["cursor"] = envelope["id"]
        finally:
            connection.close()

    return lambda: _guard(stats, run)


def nchan_long_poll(*, host, port, user_id: int, stats: Stats):
    async def run() -> None:
        connection = HttpConnection(host, port, stats)
        since: dict[str, str] = {}
        try:
            while True:
                status, headers, body = await connection.get(f"/sub/{user_id}", since)
                if status == 200:
                    stats.event(json.loads(body))
                    since = {"If-Modified-Since": headers["last-modified"], "If-None-Match": headers["etag"]}
                elif status not in (304, 408):
                    raise RuntimeError(f"nchan answered {status}")
        finally:
            connection.close()

    return lambda: _guard(stats, run)


def nchan_sse(*, host, port, user_id: int, stats: Stats):
    async def run() -> None:
        connection = HttpConnection(host, port, stats)
        try:
            async for envelope in _sse_envelopes(connection, f"/sub/{user_id}", {"Accept": "text/event-stream"}):
                stats.event(envelope)
        finally:
            connection.close()

    return lambda: _guard(stats, run)


# Bytes of a WebSocket upgrade that the websockets library does not report, measured once
# with tcpdump-free arithmetic: request line and headers ~ 230 B, the 101 answer ~ 130 B.
WS_HANDSHAKE_BYTES = 360


def centrifugo_ws(*, url: str, user_id: int, token: str, channels: dict[str, str], stats: Stats):
    """A raw Centrifugo client subscribed to `channels` (channel -> subscription token)."""
    import websockets

    def frame(size: int, masked: bool) -> int:
        header = 2 if size < 126 else 4 if size < 65536 else 10
        return size + header + (4 if masked else 0)

    async def run() -> None:
        async with websockets.connect(url, compression=None, max_size=None, open_timeout=30) as ws:
            stats.requests += 1
            stats.responses += 1
            stats.bytes += WS_HANDSHAKE_BYTES

            async def send(message: dict) -> None:
                data = json.dumps(message)
                stats.bytes += frame(len(data), masked=True)
                await ws.send(data)

            await send({"id": 1, "connect": {"token": token, "name": "bench"}})
            for number, (channel, sub_token) in enumerate(channels.items(), start=2):
                await send({"id": number, "subscribe": {"channel": channel, "token": sub_token}})
            async for message in ws:
                stats.bytes += frame(len(message), masked=False)
                for line in message.splitlines():
                    reply = json.loads(line)
                    if not reply:
                        await send({})  # the server's ping
                    elif "error" in reply:
                        raise RuntimeError(f"centrifugo: {reply['error']}")
                    elif "push" in reply and "pub" in reply["push"]:
                        stats.event(reply["push"]["pub"]["data"])

    return lambda: _guard(stats, run)


async def run_clients(factories, *, ramp_per_second: float = 500.0) -> list[asyncio.Task]:
    """Starts the clients, `ramp_per_second` at a time, as tasks (cancel them to stop)."""
    tasks = []
    batch = max(1, int(ramp_per_second / 10))
    for index, factory in enumerate(factories):
        tasks.append(asyncio.create_task(factory()))
        if index % batch == batch - 1:
            await asyncio.sleep(0.1)
    return tasks


async def stop_clients(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
