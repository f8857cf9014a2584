"""pytest fixtures for real-time tests (loaded by the root conftest's `pytest_plugins`)."""

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from testing.centrifugo import CentrifugoServer, redis_keys_deleted


@pytest.fixture
def centrifugo_factory(transactional_db, tmp_path) -> Iterator[Callable[..., CentrifugoServer]]:
    """Starts Centrifugo processes for one test (`engine="memory"` or `"redis"`), reading the
    test database's outbox, and stops them afterwards; `port`/`internal_port` put one where a
    SiteServer's nginx expects it (`site_centrifugo`). The Redis engine gets a key prefix of
    its own, deleted at the end."""
    servers: list[CentrifugoServer] = []
    prefixes: list[str] = []

    def start(
        *,
        engine: str = "memory",
        origin: str = "",
        port: int | None = None,
        internal_port: int | None = None,
        outbox: dict[str, Any] | None = None,
        debug: bool = False,
    ) -> CentrifugoServer:
        prefix = ""
        if engine == "redis":
            prefix = f"test-centrifugo-{uuid.uuid4().hex[:12]}"
            prefixes.append(prefix)
        server = CentrifugoServer(
            engine=engine,
            origin=origin,
            redis_prefix=prefix,
            workdir=tmp_path / f"centrifugo-{len(servers)}",
            port=port,
            internal_port=internal_port,
            outbox=outbox,
            debug=debug,
        )
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()
    for prefix in prefixes:
        redis_keys_deleted(prefix)


@pytest.fixture
def centrifugo(centrifugo_factory) -> CentrifugoServer:
    """A Centrifugo with the memory engine."""
    return centrifugo_factory()


@pytest.fixture
def site_centrifugo(centrifugo_factory, site) -> Callable[..., CentrifugoServer]:
    """Starts a Centrifugo behind the session's site: on the port its nginx proxies
    /connection/ to, accepting the site's origin."""

    def start(*, engine: str = "memory") -> CentrifugoServer:
        return centrifugo_factory(
            engine=engine, origin=site.url, port=site.centrifugo_port, internal_port=site.centrifugo_internal_port
        )

    return start
