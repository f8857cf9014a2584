"""The web process as the Procfile runs it: uvicorn with a pool of PostgreSQL connections."""

import asyncio

import httpx
import psycopg
import pytest

from accounts.services import token_create
from realtime.centrifugo_config import database_dsn
from realtime.feed_testing import UvicornServer

POOL_SIZE = 3


@pytest.fixture
def pooled_server(transactional_db, tmp_path):
    server = UvicornServer(log_path=tmp_path / "uvicorn.log").start(DB_POOL_MAX_SIZE=str(POOL_SIZE))
    yield server
    server.stop()


def _server_connections(server: UvicornServer) -> int:
    with psycopg.connect(database_dsn(), autocommit=True) as conn:
        return conn.execute(
            "select count(*) from pg_stat_activity where datname = current_database() and application_name = %s",
            [server.application_name],
        ).fetchone()[0]


def test_forty_concurrent_writes_share_the_pool(pooled_server, team):
    headers = {"Authorization": f"Token {token_create(user=team.member)}"}
    url = f"/api/chats/{team.chat.pk}/messages/"

    async def post_all() -> list[int]:
        async with httpx.AsyncClient(base_url=pooled_server.url, headers=headers, timeout=60) as http:
            responses = await asyncio.gather(*(http.post(url, json={"text": f"m{i}"}) for i in range(40)))
            return [response.status_code for response in responses]

    assert asyncio.run(post_all()) == [201] * 40
    page = httpx.get(f"{pooled_server.url}{url}?limit=100", headers=headers).json()["results"]
    assert sorted(m["text"] for m in page) == sorted(f"m{i}" for i in range(40))
    # The pool keeps its connections open for the next requests (a connection per request
    # would leave none behind), and never opens more than its size.
    assert 2 <= _server_connections(pooled_server) <= POOL_SIZE
