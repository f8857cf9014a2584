"""The site as `make run` serves it (nginx in front of gunicorn and uvicorn, the `site`
fixture): each path reaches its server, bodies are capped at nginx, the page works at both
loopback names, and overload and an unreachable database are answered at once with 503,
Retry-After and the API's error body."""

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from ops.serving import nginx_config_values, supervisord_config_write
from testing.processes import wait_until
from testing.site import GunicornServer

ERROR_KEYS = {"message", "extra"}


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()) == ERROR_KEYS and response.json()["extra"] == {}
    assert int(response.headers["retry-after"]) >= 1


def test_each_path_reaches_its_server(site):
    # Static files straight from disk (collectstatic's copy), not through Django.
    static = httpx.get(f"{site.url}/static/web/app.js")
    assert static.status_code == 200
    assert static.content == (Path(settings.BASE_DIR) / "web/static/web/app.js").read_bytes()
    assert httpx.get(f"{site.url}/healthz").json() == {"status": "ok"}
    # The feed answers from uvicorn: asked without credentials, its own 401.
    feed = httpx.get(f"{site.url}/api/updates/")
    assert feed.status_code == 401 and set(feed.json()) == ERROR_KEYS
    # Nothing listens behind /connection/ in this test: nginx says so in the API's shape.
    _assert_unavailable(httpx.get(f"{site.url}/connection/websocket"))


def test_bodies_over_the_limit_are_refused_at_nginx_with_the_json_413(site):
    limit = settings.MAX_REQUEST_BODY_BYTES
    url = f"{site.url}/api/auth/token/"
    headers = {"content-type": "application/json"}
    declared = httpx.post(url, content=b"x" * (limit + 1), headers=headers)
    chunked = httpx.post(url, content=(b"x" * 1024 for _ in range(limit // 1024 + 1)), headers=headers)
    for response in (declared, chunked):
        assert response.status_code == 413
        assert response.json() == {"message": f"Request body too large (limit {limit} bytes).", "extra": {}}
    # A chunked body under the limit goes through, whole, to Django.
    small = httpx.post(
        url, content=(part for part in (b'{"username": "nobody",', b' "password": "x"}')), headers=headers
    )
    assert small.status_code == 400 and set(small.json()) == ERROR_KEYS


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_page_works_at_both_loopback_names(site, make_user, host):
    user = make_user()
    origin = f"http://{host}:{site.port}"
    with httpx.Client(base_url=origin) as browser:
        form = browser.get("/login/").text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        login = browser.post(
            "/login/",
            data={"username": user.username, "password": "pass-word-42", "csrfmiddlewaretoken": token},
            headers={"Origin": origin},
        )
        assert login.status_code == 302, login.text[:300]
        page = browser.get("/").text
    config = json.loads(re.search(r'id="page-config" type="application/json">(.*?)</script>', page).group(1))
    # The WebSocket goes to the page's own origin; nginx passes it to Centrifugo.
    assert config["ws_url"] == f"ws://{host}:{site.port}/connection/websocket"


def _process_tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid] + [descendant for child in children for descendant in _process_tree(int(child))]


def test_past_the_in_flight_limit_requests_get_503_at_once_and_the_rest_complete(site):
    """gunicorn frozen: the first WSGI_MAX_IN_FLIGHT requests wait for it, every further
    one is refused by nginx at once, and once it runs again the waiting ones complete."""
    limit = settings.WSGI_MAX_IN_FLIGHT
    pids = _process_tree(site.web.process.pid)

    async def burst() -> list[tuple[httpx.Response, float]]:
        limits = httpx.Limits(max_connections=limit + 20)
        async with httpx.AsyncClient(base_url=site.url, timeout=30, limits=limits) as http:

            async def timed() -> tuple[httpx.Response, float]:
                started = time.monotonic()
                response = await http.get("/healthz")
                return response, time.monotonic() - started

            waiting = [asyncio.create_task(timed()) for _ in range(limit)]
            await asyncio.sleep(1)  # every one of them is in flight, none answered
            assert not any(task.done() for task in waiting)
            refused = [await timed() for _ in range(10)]
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
            return refused + list(await asyncio.gather(*waiting))

    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        answers = asyncio.run(burst())
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    refused, completed = answers[:10], answers[10:]
    for response, elapsed in refused:
        _assert_unavailable(response)
        assert elapsed < 0.5, elapsed
    assert [response.status_code for response, _ in completed] == [200] * limit


@pytest.fixture
def one_thread_gunicorn(tmp_path) -> Iterator[GunicornServer]:
    """gunicorn as `make run` starts it, with one process of one thread, and the production
    bound on a request's wait for that thread (test settings raise it)."""
    from ops.serving import wsgi_command

    server = GunicornServer(workers=1, log_path=tmp_path / "gunicorn.log")
    server.command = lambda: wsgi_command(port=server.port, workers=1, threads=1)
    server.start(REQUEST_QUEUE_TIMEOUT_MS="200")
    yield server
    server.stop()


def test_a_request_that_waited_too_long_for_a_thread_is_refused_before_any_work(
    one_thread_gunicorn, transactional_db, team
):
    """The wait is measured on gunicorn's own clock: a request stuck behind another one for
    longer than the bound is refused; a stamp from nginx's clock, however far off, is not
    read (on two hosts, a skew of the bound refused everything)."""
    import psycopg
    from django.db import connection

    from accounts.services import token_create
    from core.database import database_url

    url = one_thread_gunicorn.url
    headers = {"Authorization": f"Token {token_create(user=team.member)}"}
    skewed = {"X-Request-Start": f"t={time.time() - 10:.3f}"} | headers  # nginx's clock 10 s behind
    assert httpx.get(f"{url}/api/me/", headers=skewed).status_code == 200
    ahead = {"X-Request-Start": f"t={time.time() + 10:.3f}"} | headers
    assert httpx.get(f"{url}/api/me/", headers=ahead).status_code == 200

    # The only thread waits on a row lock this test holds; the next request queues behind it.
    dsn = database_url(connection.settings_dict)
    with psycopg.connect(dsn) as lock, psycopg.connect(dsn, autocommit=True) as watch:
        lock.execute("select 1 from chats_chat where id = %s for update", [team.chat.pk])
        blocked = "select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '%chats_message%'"

        async def both() -> tuple[httpx.Response, httpx.Response]:
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
                post = asyncio.create_task(http.post(f"/api/chats/{team.chat.pk}/messages/", json={"text": "hi"}))
                waiting = lambda: watch.execute(blocked).fetchone()  # noqa: E731
                await asyncio.to_thread(wait_until, waiting, timeout=10, what="the POST to wait on the lock")
                queued = asyncio.create_task(http.get("/api/me/"))
                await asyncio.sleep(0.5)  # longer than the bound (200 ms) behind the POST
                lock.commit()
                return await post, await queued

        post, queued = asyncio.run(both())
    assert post.status_code == 201
    _assert_unavailable(queued)
    assert queued.json()["message"] == "The server is busy or restarting: retry in a moment."
    # Once the thread is free again, a request is served at once.
    assert httpx.get(f"{url}/api/me/", headers=headers).status_code == 200


@pytest.fixture
def unreachable_database(tmp_path) -> Iterator[GunicornServer]:
    """gunicorn whose PostgreSQL accepts TCP connections and never answers (a hung or
    overloaded server, a dropped route): the worst case, no quick 'connection refused'."""
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(1000)
    port = blackhole.getsockname()[1]
    server = GunicornServer(log_path=tmp_path / "gunicorn.log")
    server.start(DATABASE_URL=f"postgres://messenger:x@127.0.0.1:{port}/messenger")
    yield server
    server.stop()
    blackhole.close()


def test_a_database_out_of_reach_answers_503_json_within_about_a_second(unreachable_database):
    token = "0" * 40
    api = f"{unreachable_database.url}/api/me/"
    page = f"{unreachable_database.url}/chats/1/"
    for url, kwargs in (
        (api, {"headers": {"Authorization": f"Token {token}"}}),  # a DRF view
        (page, {"cookies": {"sessionid": "x" * 32}}),  # a plain Django view (session lookup)
    ):
        started = time.monotonic()
        response = httpx.get(url, timeout=10, **kwargs)
        elapsed = time.monotonic() - started
        _assert_unavailable(response)
        # The pool's timeout (DB_POOL_TIMEOUT, 1 s), not libpq's connect timeout or a hang.
        assert elapsed < 1.9, (url, elapsed)


def test_nginx_caps_bodies_at_the_django_limit_and_supervisord_restarts_every_program(tmp_path, settings, monkeypatch):
    settings.STATE_DIR, settings.STATIC_ROOT = tmp_path, tmp_path / "static"
    monkeypatch.setenv("FLOWER_PASSWORD", "a-secret")
    monkeypatch.setenv("FLOWER_USER", "flower")
    config = supervisord_config_write().read_text()
    programs = re.findall(r"^\[program:(\w+)\]", config, re.M)
    assert sorted(programs) == ["beat", "centrifugo", "feed", "flower", "nginx", "smtp", "web", "worker", "worker_bulk"]
    assert config.count("autorestart=true") == len(programs)
    assert "a-secret" not in config and "%(ENV_FLOWER_PASSWORD)s" in config  # the secret stays out
    nginx = (tmp_path / "nginx" / "nginx.conf").read_text()
    assert f"client_max_body_size {settings.MAX_REQUEST_BODY_BYTES};" in nginx
    assert 'proxy_set_header X-Request-Start "t=${msec}";' in nginx  # QueueTimeLimitMiddleware's clock
    assert nginx_config_values()["listen_port"] == settings.WEB_PORT
    # Centrifugo's internal port is nowhere in nginx's config.
    assert str(settings.CENTRIFUGO_INTERNAL_PORT) not in nginx


@pytest.fixture
def supervised_stack(transactional_db, tmp_path) -> Iterator[tuple[dict[str, str], Path]]:
    """`make run`'s supervisord with every program, on free ports and the test database;
    shut down at the end."""
    from django.db import connection

    from core.database import database_url
    from testing.processes import free_port

    ports = {name: str(free_port()) for name in ("WEB", "WSGI", "ASGI", "CENTRIFUGO", "CENTRIFUGO_INTERNAL")}
    ports |= {"FLOWER": str(free_port()), "EMAIL": str(free_port())}
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "messenger.settings.local",
        "MESSENGER_STATE_DIR": str(tmp_path),
        "DATABASE_URL": database_url(connection.settings_dict, sslmode="disable"),
        "CELERY_KEY_PREFIX": f"{connection.settings_dict['NAME']}-supervised:",
        "SITE_URL": f"http://127.0.0.1:{ports['WEB']}",
        "FLOWER_USER": "flower",
        "FLOWER_PASSWORD": "a-secret",
    }
    env |= {f"{name}_PORT": port for name, port in ports.items()}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "collectstatic", "--no-input", "--link", "-v", "0"], env=env, check=True, timeout=60)
    conf = subprocess.run([*manage, "serving_config"], env=env, check=True, timeout=60, capture_output=True, text=True)
    conf_path = Path(conf.stdout.strip())
    supervisord = subprocess.Popen(
        [str(Path(sys.executable).parent / "supervisord"), "-c", str(conf_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    yield env, conf_path
    subprocess.run([*_supervisorctl(conf_path), "shutdown"], env=env, timeout=120, capture_output=True)
    supervisord.wait(timeout=120)


def _supervisorctl(conf: Path) -> list[str]:
    return [str(Path(sys.executable).parent / "supervisorctl"), "-c", str(conf)]


def _status(conf: Path) -> dict[str, tuple[str, str]]:
    """program → (state, pid) from `supervisorctl status`."""
    output = subprocess.run([*_supervisorctl(conf), "status"], capture_output=True, text=True, timeout=30).stdout
    rows = [line.split() for line in output.splitlines() if line.strip()]
    return {row[0]: (row[1], row[3].rstrip(",") if len(row) > 3 and row[2] == "pid" else "") for row in rows}


@pytest.mark.slow
def test_supervisord_runs_every_program_and_starts_one_that_died_again(supervised_stack):
    env, conf = supervised_stack
    programs = {"beat", "centrifugo", "feed", "flower", "nginx", "smtp", "web", "worker", "worker_bulk"}
    wait_until(
        lambda: set(_status(conf)) == programs and all(s == "RUNNING" for s, _ in _status(conf).values()),
        timeout=90,
        what=f"every program RUNNING: {_status(conf)}",
        interval=0.5,
    )
    site = env["SITE_URL"]
    assert wait_until(lambda: _get(f"{site}/readyz") == 200, timeout=30, what="readyz through nginx")
    assert _get(f"{site}/static/web/app.js") == 200
    # Centrifugo (after scripts/centrifugo.sh has rendered its config): its internal port
    # answers, and nginx's /connection/ reaches its client port.
    health = f"http://127.0.0.1:{env['CENTRIFUGO_INTERNAL_PORT']}/health"
    assert wait_until(lambda: _get(health) == 200, timeout=30, what="Centrifugo's health")
    assert _get(f"{site}/connection/websocket") == 400  # Centrifugo's answer to a GET without upgrade

    _, beat_pid = _status(conf)["beat"]
    os.kill(int(beat_pid), signal.SIGKILL)
    wait_until(
        lambda: _status(conf)["beat"][0] == "RUNNING" and _status(conf)["beat"][1] != beat_pid,
        timeout=30,
        what="beat started again",
        interval=0.5,
    )


def _get(url: str) -> int:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return 0
