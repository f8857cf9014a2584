"""Fixtures of the event feed tests: a real uvicorn on the test database."""

from collections.abc import Iterator

import pytest

from realtime.feed_testing import UvicornServer


@pytest.fixture
def feed_server(transactional_db, tmp_path) -> Iterator[UvicornServer]:
    """uvicorn serving the project (one process, so one listener), with a 1 s SSE heartbeat."""
    server = UvicornServer(log_path=tmp_path / "uvicorn.log").start(REALTIME_SSE_HEARTBEAT_SECONDS="1")
    yield server
    server.stop()
