"""The web process as `make run` runs it: granian, one worker process per core with a few
threads, each process with a pool of PostgreSQL connections (ops.serving.wsgi_command),
reached through nginx (the `site` fixture)."""

import asyncio

import httpx
import psycopg
from django.conf import settings

from accounts.services import token_create
from core.database import database_url
from testing.processes import free_port
from testing.site import WsgiServer


def _server_connections(application_name: str) -> int:
    with psycopg.connect(database_url(sslmode="disable"), autocommit=True) as conn:
        return conn.execute(
            "select count(*) from pg_stat_activity where datname = current_database() and application_name = %s",
            [application_name],
        ).fetchone()[0]


def test_concurrent_writes_share_the_pools(site, team):
    headers = {"Authorization": f"Token {token_create(user=team.member)}"}
    url = f"/api/chats/{team.chat.pk}/messages/"
    workers, threads = site.web.workers, settings.WSGI_THREADS
    # More than the threads, so that requests queue for one; under one client's in-flight
    # share at nginx (CLIENT_MAX_IN_FLIGHT), so that none is refused.
    clients = min(workers * threads + 16, settings.CLIENT_MAX_IN_FLIGHT)
    assert clients > workers * threads

    async def post_all() -> list[int]:
        async with httpx.AsyncClient(base_url=site.url, headers=headers, timeout=60) as http:
            responses = await asyncio.gather(*(http.post(url, json={"text": f"m{i}"}) for i in range(clients)))
            return [response.status_code for response in responses]

    assert asyncio.run(post_all()) == [201] * clients
    page = httpx.get(f"{site.url}{url}?limit=100", headers=headers).json()["results"]
    assert sorted(m["text"] for m in page) == sorted(f"m{i}" for i in range(clients))
    # The pools keep their connections open for the next requests (a connection per request
    # would leave none behind), and never open more than a connection per thread.
    assert workers <= _server_connections(site.web.application_name) <= workers * threads


def test_each_worker_connects_a_connection_per_thread_before_it_serves(tmp_path, transactional_db):
    # Opened as the worker starts (messenger.wsgi), not by the first requests under load: a
    # connection opened then made its request, and those queued behind it, wait. Its own
    # server: the `site` fixture's pools have been used by other tests.
    web = WsgiServer(workers=1, log_path=tmp_path / "wsgi.log").start()  # ready: /healthz, no query
    try:
        assert _server_connections(web.application_name) == settings.WSGI_THREADS
    finally:
        web.stop()


def test_a_worker_starts_and_serves_while_the_database_does_not_answer(tmp_path, transactional_db):
    web = WsgiServer(workers=1, log_path=tmp_path / "wsgi.log")
    nowhere = database_url(sslmode="disable").replace(f":{settings.DATABASES['default']['PORT']}/", f":{free_port()}/")
    web.start(DATABASE_URL=nowhere)
    try:
        assert httpx.get(f"{web.url}/readyz").status_code == 503
        assert "the database pool is not full as the worker starts" in (tmp_path / "wsgi.log").read_text()
    finally:
        web.stop()
