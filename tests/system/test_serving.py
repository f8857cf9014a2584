"""The site as `make run` serves it (nginx in front of granian and uvicorn, the `site`
fixture): each path reaches its server, bodies are capped at nginx, the page works at both
loopback names, and overload and an unreachable database are answered at once with 503,
Retry-After and the API's error body."""

import asyncio
import contextlib
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

from accounts.models import User
from accounts.services import tokens_create
from ops.centrifugo import node_count, node_environment
from ops.serving import nginx_capacity, nginx_config_values, nginx_config_write, supervisord_config_write
from testing.processes import wait_until
from testing.site import SiteServer, WsgiServer

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


@pytest.fixture
def one_thread_site(tmp_path, transactional_db) -> Iterator[SiteServer]:
    """The site as `make run` serves it, its WSGI server with one process of one thread, and
    the production bound on a request's wait for that thread (test settings raise it)."""
    from ops.serving import wsgi_command

    web = WsgiServer(workers=1, log_path=tmp_path / "wsgi.log")
    web.command = lambda: wsgi_command(port=web.port, workers=1, threads=1)
    site = SiteServer(workdir=tmp_path, web=web).start(REQUEST_QUEUE_TIMEOUT_MS="200")
    yield site
    site.stop()


def test_a_request_that_waited_too_long_for_a_thread_is_refused_before_any_work(one_thread_site, team):
    """The wait is from nginx's stamp, which nginx sets whatever the client sent: a request
    stuck behind another one for longer than the bound is refused, the others are served."""
    import psycopg
    from django.db import connection

    from accounts.services import token_create
    from core.database import database_url

    url = one_thread_site.url
    headers = {"Authorization": f"Token {token_create(user=team.member)}"}
    forged = {"X-Request-Start": f"t={time.time() - 10:.3f}"} | headers  # "waited 10 s"
    assert httpx.get(f"{url}/api/me/", headers=forged).status_code == 200

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


def test_a_token_request_waits_longer_for_a_thread_than_other_requests(one_thread_site, team):
    """The connection token a page asks for before its WebSocket has a longer queue budget
    (REQUEST_QUEUE_PATIENT_TIMEOUT_MS): queued behind the same stuck request as an /api/me/,
    past the ordinary bound, the token is served and the other request refused."""
    import psycopg
    from django.db import connection

    from accounts.services import token_create
    from core.database import database_url

    url = one_thread_site.url
    headers = {"Authorization": f"Token {token_create(user=team.member)}"}
    dsn = database_url(connection.settings_dict)
    with psycopg.connect(dsn) as lock, psycopg.connect(dsn, autocommit=True) as watch:
        lock.execute("select 1 from chats_chat where id = %s for update", [team.chat.pk])
        blocked = "select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '%chats_message%'"

        async def queued_behind_a_stuck_post() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
                post = asyncio.create_task(http.post(f"/api/chats/{team.chat.pk}/messages/", json={"text": "hi"}))
                waiting = lambda: watch.execute(blocked).fetchone()  # noqa: E731
                await asyncio.to_thread(wait_until, waiting, timeout=10, what="the POST to wait on the lock")
                token = asyncio.create_task(http.get("/api/realtime/token/"))
                await asyncio.sleep(0.1)
                other = asyncio.create_task(http.get("/api/me/"))
                await asyncio.sleep(0.5)  # past the bound (200 ms), within the token's (2 s)
                lock.commit()
                return await post, await token, await other

        post, token, other = asyncio.run(queued_behind_a_stuck_post())
    assert post.status_code == 201
    assert token.status_code == 200 and token.json()["token"]
    _assert_unavailable(other)


def test_a_request_running_past_the_limit_ends_its_worker_and_a_new_one_serves(tmp_path, transactional_db, team):
    """core.worker.Watchdog under granian: a POST stuck on a row lock for longer than
    WSGI_REQUEST_TIMEOUT_SECONDS (1 s here; the lock timeout is 5 s) ends its worker, with
    the stuck thread's stack in the log; nginx tells its client 503, granian starts another
    worker, and that one serves."""
    import psycopg
    from django.db import connection

    from accounts.services import token_create
    from core.database import database_url

    web = WsgiServer(workers=1, log_path=tmp_path / "wsgi.log")
    site = SiteServer(workdir=tmp_path, web=web).start(WSGI_REQUEST_TIMEOUT_SECONDS="1")
    try:
        headers = {"Authorization": f"Token {token_create(user=team.member)}"}
        workers_before = set(_process_tree(web.process.pid)[1:])
        with psycopg.connect(database_url(connection.settings_dict)) as lock:
            lock.execute("select 1 from chats_chat where id = %s for update", [team.chat.pk])
            started = time.monotonic()
            stuck = httpx.post(
                f"{site.url}/api/chats/{team.chat.pk}/messages/", json={"text": "hi"}, headers=headers, timeout=30
            )
            elapsed = time.monotonic() - started
            lock.rollback()
        _assert_unavailable(stuck)
        assert elapsed < 4, elapsed
        served = lambda: httpx.get(f"{site.url}/api/me/", headers=headers).status_code == 200  # noqa: E731
        wait_until(served, timeout=20, what="a new worker to serve")
        assert not workers_before & set(_process_tree(web.process.pid)[1:])
        log = (tmp_path / "wsgi.log").read_text()
        assert "a request has run for more than 1 s: ending worker" in log
        assert "message_create" in log  # the stuck thread's stack
    finally:
        site.stop()


def _cpus_of_each_thread(pid: int) -> set[frozenset[int]]:
    return {frozenset(os.sched_getaffinity(int(thread))) for thread in os.listdir(f"/proc/{pid}/task")}


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one CPU: nothing to choose")
def test_each_web_worker_runs_on_a_cpu_of_its_own_and_one_started_again_takes_the_cpu_left(tmp_path, transactional_db):
    """core.worker.cpu_pinned under granian: every thread of a worker on one CPU, the two
    workers on two; a worker that died is started again on the CPU it had."""
    web = WsgiServer(workers=2, log_path=tmp_path / "wsgi.log").start()
    try:
        workers = _process_tree(web.process.pid)[1:]
        cpus = {worker: _cpus_of_each_thread(worker) for worker in workers}
        assert all(len(threads) == 1 and len(next(iter(threads))) == 1 for threads in cpus.values()), cpus
        assert len(set().union(*cpus.values())) == 2, cpus
        first, second = workers
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: len(_process_tree(web.process.pid)) == 3, timeout=30, what="a worker started again")
        (started_again,) = set(_process_tree(web.process.pid)[1:]) - {second}
        wait_until(lambda: _cpus_of_each_thread(started_again) == cpus[first], timeout=30, what="the CPU left")
        assert _cpus_of_each_thread(second) == cpus[second]
    finally:
        web.stop()


def test_a_worker_whose_server_was_killed_ends_itself(tmp_path, transactional_db):
    """granian's server process killed outright (the OOM killer, `supervisorctl signal KILL`):
    its worker, which would go on serving on the inherited socket beside the next server's
    workers, notices within a second or two (core.worker.Watchdog) and ends."""
    web = WsgiServer(workers=1, log_path=tmp_path / "wsgi.log").start()
    server = web.process.pid
    (worker,) = _process_tree(server)[1:]
    try:
        os.kill(server, signal.SIGKILL)
        web.process.wait(timeout=10)
        wait_until(lambda: not Path(f"/proc/{worker}").exists(), timeout=15, what="the orphaned worker to end")
        assert f"the server process {server} is gone: ending worker {worker}" in (tmp_path / "wsgi.log").read_text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGKILL)
        web.stop()


def test_a_worker_whose_server_was_killed_while_it_started_ends_itself(tmp_path, transactional_db):
    """The server killed while its worker is still importing Django (supervisor's kill loop
    in the cluster profile did this): the worker, orphaned before its watchdog started, must
    still see that its server is gone."""
    web = WsgiServer(workers=1, log_path=tmp_path / "wsgi.log")
    with (tmp_path / "wsgi.log").open("ab") as log:
        server = subprocess.Popen(web.command(), env=web.environment(), cwd=settings.BASE_DIR, stdout=log, stderr=log)
    try:
        (worker,) = wait_until(lambda: _process_tree(server.pid)[1:], timeout=15, what="granian's worker to fork")
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        wait_until(lambda: not Path(f"/proc/{worker}").exists(), timeout=20, what="the orphaned worker to end")
    finally:
        with contextlib.suppress(ProcessLookupError, UnboundLocalError):
            os.kill(worker, signal.SIGKILL)
        if server.poll() is None:
            server.kill()


@pytest.fixture
def unreachable_database(tmp_path) -> Iterator[WsgiServer]:
    """The WSGI server, its PostgreSQL accepting TCP connections and never answers (a hung or
    overloaded server, a dropped route): the worst case, no quick 'connection refused'."""
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(1000)
    port = blackhole.getsockname()[1]
    server = WsgiServer(log_path=tmp_path / "wsgi.log")
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
    # One Centrifugo, or more where one process cannot hold EDGE_MAX_WEBSOCKETS (ops.centrifugo).
    more_nodes = [f"centrifugo{n + 1}" for n in range(1, node_count())]
    assert sorted(programs) == sorted(
        ["beat", "centrifugo", "feed", "flower", "nginx", "smtp", "web", "worker", "worker_bulk", *more_nodes]
    )
    assert config.count("autorestart=true") == len(programs)
    assert "a-secret" not in config and "%(ENV_FLOWER_PASSWORD)s" in config  # the secret stays out
    nginx = (tmp_path / "nginx" / "nginx.conf").read_text()
    assert f"client_max_body_size {settings.MAX_REQUEST_BODY_BYTES};" in nginx
    assert nginx.count('proxy_set_header X-Request-Start "t=${msec}";') == nginx.count("proxy_pass http://wsgi;") == 3
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
    # Further Centrifugo nodes listen 100 ports up (ops.centrifugo.node_ports): free too.
    for name in ("CENTRIFUGO", "CENTRIFUGO_INTERNAL"):
        while not all(_port_free(int(ports[name]) + 100 * n) for n in range(1, node_count())):
            ports[name] = str(free_port())
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


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


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
    nodes = node_count()  # this machine's: in the test process, its limits are supervisord's
    programs |= {f"centrifugo{n + 1}" for n in range(1, nodes)}
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
    # Every further node (the Redis engine between them) is up on its own ports, and the nodes
    # split the machine's cores: Go's GOMAXPROCS, as each node's runtime reports it.
    processors = int(node_environment(nodes).get("GOMAXPROCS", len(os.sched_getaffinity(0))))
    for n in range(nodes):
        internal = int(env["CENTRIFUGO_INTERNAL_PORT"]) + 100 * n
        assert wait_until(lambda i=internal: _get(f"http://127.0.0.1:{i}/health") == 200, timeout=30, what=f"node {n}")
        metrics = httpx.get(f"http://127.0.0.1:{internal}/metrics", timeout=5).text
        assert re.search(r"^go_sched_gomaxprocs_threads (\d+)$", metrics, re.M).group(1) == str(processors)

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


# -- admission per client address ------------------------------------------------------------
# Every address of 127.0.0.0/8 is this machine: a client that binds 127.0.0.2 is, to nginx,
# another client than one on 127.0.0.3. The suite's own clients (127.0.0.1) are exempt in
# the test settings (ADMISSION_EXEMPT_ADDRESSES).


def _from(address: str, **kwargs) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30, **kwargs)


def _assert_refused(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()) == ERROR_KEYS and response.json()["extra"] == {}
    assert int(response.headers["retry-after"]) >= 1


ADMISSION_SITE_IN_FLIGHT = 16


@pytest.fixture(scope="module")
def admission_site(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[SiteServer]:
    """The site with small per-client limits, so that one client reaches them quickly."""
    with django_db_blocker.unblock():
        server = SiteServer(
            workdir=tmp_path_factory.mktemp("admission"),
            client_max_in_flight=4,
            client_request_rate=2,
            client_request_burst=10,
            client_timeout=2,
            wsgi_max_in_flight=ADMISSION_SITE_IN_FLIGHT,
            # The site's own gate is tested from 127.0.0.1, as if from many clients.
            admission_exempt=["127.0.0.1"],
        ).start()
    yield server
    server.stop()


def test_past_the_in_flight_limit_requests_get_503_at_once_and_the_rest_complete(admission_site, transactional_db):
    """The WSGI server frozen: the first WSGI_MAX_IN_FLIGHT requests (here 16, from an exempt
    address, as from many clients) wait for it, every further one is refused by nginx at
    once, and once it runs again the waiting ones complete."""
    site = admission_site
    limit = ADMISSION_SITE_IN_FLIGHT
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


def test_one_client_past_its_request_rate_gets_429_and_another_client_is_served(admission_site, transactional_db):
    url = f"{admission_site.url}/healthz"
    with _from("127.0.0.2") as greedy, _from("127.0.0.3") as other:
        answers = [greedy.get(url) for _ in range(30)]
        assert answers[0].status_code == 200
        refused = [response for response in answers if response.status_code != 200]
        assert refused, "30 requests at once are past a rate of 2/s with a burst of 10"
        for response in refused:
            _assert_refused(response, 429)
        # The greedy client's counter is its own.
        assert other.get(url).status_code == 200


def _slow_body(address: str, port: int) -> socket.socket:
    """A POST that announces a body and sends one byte of it: nginx holds the request (and its
    admission slot) while it waits for the rest."""
    sock = socket.socket()
    sock.bind((address, 0))
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        b"POST /api/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{"
    )
    return sock


def _read_all(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def test_slow_bodies_hold_only_their_own_clients_slots_and_are_cut_off(admission_site, transactional_db):
    """One address with as many slow uploads as its in-flight share: its next request is
    refused at once, another address is served meanwhile, and the slow uploads are closed
    after CLIENT_SEND_TIMEOUT_SECONDS (2 s here), which frees the slots."""
    url = f"{admission_site.url}/healthz"
    slow = [_slow_body("127.0.0.4", admission_site.port) for _ in range(4)]
    try:
        time.sleep(0.3)  # nginx has read every request's headers and waits for the bodies
        with _from("127.0.0.4") as attacker, _from("127.0.0.5") as other:
            _assert_refused(attacker.get(url), 503)
            assert [other.get(url).status_code for _ in range(5)] == [200] * 5
            # nginx gives up on each slow body: the connection ends (with a 408 or nothing).
            for sock in slow:
                answer = _read_all(sock, timeout=10)
                assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:200]
            assert attacker.get(url).status_code == 200
    finally:
        for sock in slow:
            sock.close()


@pytest.fixture(scope="module")
def production_queue_site(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[SiteServer]:
    """The site with production's bound on a request's wait for a WSGI thread (50 ms;
    the test settings raise it) and a token pace well below what this machine issues."""
    with django_db_blocker.unblock():
        server = SiteServer(workdir=tmp_path_factory.mktemp("queue"), token_issue_rate=100).start(
            REQUEST_QUEUE_TIMEOUT_MS="50"
        )
    yield server
    server.stop()


BURST_CLIENTS = 500


def test_a_burst_of_clients_asking_for_tokens_at_once_is_served(production_queue_site, transactional_db, make_user):
    """500 clients from 500 addresses, each with its own account, ask for a connection token
    at the same moment, against production's 50 ms queue bound: every one is answered 200.
    nginx holds the excess and hands it on at TOKEN_ISSUE_RATE instead of the app refusing
    it (once, 960 of 1,000 got 503 here; before that nginx's one counter of 32 refused them)."""
    site = production_queue_site
    users = [make_user() for _ in range(BURST_CLIENTS)]
    keys = tokens_create(users=users)
    addresses = [f"127.0.{10 + n // 200}.{1 + n % 200}" for n in range(len(users))]

    async def ask(address: str, key: str) -> tuple[int, str]:
        transport = httpx.AsyncHTTPTransport(local_address=address)
        async with httpx.AsyncClient(transport=transport, timeout=60) as http:
            await start.wait()
            response = await http.get(f"{site.url}/api/realtime/token/", headers={"Authorization": f"Token {key}"})
            return response.status_code, response.text

    async def burst() -> list[tuple[int, str]]:
        nonlocal start
        start = asyncio.Event()
        tasks = [asyncio.create_task(ask(a, keys[u.pk])) for a, u in zip(addresses, users, strict=True)]
        await asyncio.sleep(0.5)
        start.set()
        return await asyncio.gather(*tasks)

    start: asyncio.Event
    answers = asyncio.run(burst())
    refused = [(status, text) for status, text in answers if status != 200]
    assert not refused, (len(refused), refused[:3])
    assert User.objects.count() >= BURST_CLIENTS


def test_the_servers_count_the_cores_they_may_run_on():
    """Under an affinity mask of one core (taskset, a cpuset), one granian worker and one
    nginx worker, as Go gives each Centrifugo node the processors of that mask."""
    one_core = min(os.sched_getaffinity(0))
    probe = (
        f"import os; os.sched_setaffinity(0, {{{one_core}}});"
        "import django; django.setup(); from django.conf import settings;"
        "from ops.serving import nginx_capacity;"
        "print(settings.WSGI_WORKERS, nginx_capacity(max_files=20_000, websockets=100)[0])"
    )
    environment = {key: value for key, value in os.environ.items() if key != "WSGI_WORKERS"}
    shown = subprocess.run(
        [sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True, timeout=60
    )
    assert shown.stdout.split()[-2:] == ["1", "1"], shown.stdout + shown.stderr


def test_nginx_is_sized_for_20000_websockets_within_the_descriptor_limit(settings, tmp_path):
    # 20,000 WebSockets are 40,000 connections; 20,000 descriptors per process.
    workers, connections = nginx_capacity(max_files=20_000, websockets=20_000, cpus=2)
    assert connections <= 20_000 and workers * connections >= 2 * 20_000 * 1.2
    assert nginx_capacity(max_files=20_000, websockets=100, cpus=2)[0] == 2  # at least one per core
    settings.EDGE_MAX_WEBSOCKETS = 20_000
    nginx = nginx_config_write(prefix=tmp_path, log_dir=tmp_path).read_text()
    values = nginx_config_values()
    assert f"worker_processes {values['worker_processes']};" in nginx
    assert f"worker_rlimit_nofile {values['max_files']};" in nginx
    assert f"worker_connections {values['worker_connections']};" in nginx
    assert values["worker_connections"] < values["max_files"]
    assert re.search(r"listen 127\.0\.0\.1:\d+ backlog=4096 reuseport;", nginx)
    # Admission per client address, with short timeouts for slow senders.
    assert "limit_conn_zone $server_name zone=client" not in nginx
    assert "limit_conn_zone $client_key zone=client_in_flight:10m;" in nginx
    assert f"client_body_timeout {settings.CLIENT_SEND_TIMEOUT_SECONDS}s;" in nginx
    assert f"client_header_timeout {settings.CLIENT_SEND_TIMEOUT_SECONDS}s;" in nginx


def test_x_forwarded_proto_is_passed_on_only_from_a_trusted_balancer(settings, tmp_path):
    settings.TRUSTED_PROXY_ADDRESSES = []
    untrusted = nginx_config_write(prefix=tmp_path / "a", log_dir=tmp_path).read_text()
    assert "set_real_ip_from" not in untrusted
    # No balancer: the header's value is never used, whatever the client sends.
    assert 'map "$from_trusted_proxy:$http_x_forwarded_proto" $forwarded_proto' in untrusted
    assert re.search(r"geo \$realip_remote_addr \$from_trusted_proxy \{\s*default 0;\s*\}", untrusted)
    settings.TRUSTED_PROXY_ADDRESSES = ["10.1.2.0/24", "192.0.2.7"]
    trusted = nginx_config_write(prefix=tmp_path / "b", log_dir=tmp_path).read_text()
    for address in ("10.1.2.0/24", "192.0.2.7/32"):
        assert f"set_real_ip_from {address};" in trusted
        assert f"        {address} 1;" in trusted
    assert "real_ip_header X-Forwarded-For;" in trusted
    assert '"1:https" https;' in trusted
    # Every proxied location sends the resolved scheme, never the listener's $scheme.
    assert "X-Forwarded-Proto $scheme" not in trusted
    assert trusted.count("proxy_set_header X-Forwarded-Proto $forwarded_proto;") == 5
    settings.TRUSTED_PROXY_ADDRESSES = ["not-an-address"]
    with pytest.raises(ValueError, match="TRUSTED_PROXY_ADDRESSES"):
        nginx_config_values()
