"""Deployment: production settings pass `check --deploy`; every answer has the security
headers and a content security policy; Swagger UI comes from the package, not a CDN; the
demo superuser needs a real password."""

import os
import re
import subprocess
import sys

import pytest
from csp.utils import build_policy
from django.conf import settings as django_settings
from django.core.cache import caches
from django.core.management import CommandError, call_command
from redis._parsers import _HiredisParser

from accounts.models import User
from core.csp import websocket_origin

ROOT = django_settings.BASE_DIR


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=os.environ | {"DJANGO_SETTINGS_MODULE": "messenger.settings.production"} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_for_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_the_wsgi_worker_freezes_what_start_up_made():
    """The WSGI application, as a granian worker builds it, leaves its start-up objects to no
    collection (gc.freeze): the older generations' collections stop walking them."""
    probe = "import gc, messenger.wsgi; messenger.wsgi.served_application(); print(gc.get_freeze_count())"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False, env=os.environ.copy()
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) > 50_000


def test_redis_replies_are_parsed_in_c():
    """hiredis is installed and used: every API request makes two Redis commands (the token
    check and the throttle), a quarter cheaper with it."""
    connection = caches["throttle"].redis().connection_pool.make_connection()
    assert isinstance(connection._parser, _HiredisParser)


def test_production_settings_refuse_debug():
    result = _manage("check", DJANGO_DEBUG="true")
    assert result.returncode != 0
    assert "DJANGO_DEBUG=true with production settings: refused." in result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/login/", "/api/auth/token/", "/healthz", "/api/docs/"])
def test_every_answer_has_the_security_headers(client, path):
    response = client.get(path)
    assert response.status_code in (200, 405)
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-eval" not in csp and "script-src 'self';" in csp + ";"
    if path != "/api/docs/":  # Swagger UI injects <style> elements: allowed there only
        assert "unsafe-inline" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
def test_the_policy_lets_the_page_reach_centrifugo_where_it_is(client, settings):
    settings.CENTRIFUGO_WS_URL = "ws://127.0.0.1:12345/connection/websocket"
    csp = client.get("/login/")["Content-Security-Policy"]
    assert "connect-src 'self' ws://127.0.0.1:12345;" in csp + ";"


@pytest.mark.django_db
def test_the_policy_kept_between_answers_is_django_csps_and_follows_the_settings(client, settings):
    """core.csp builds the usual policy once: it must be the one django-csp builds, and a
    changed setting must not leave the old one in place."""
    first, again = (client.get("/healthz")["Content-Security-Policy"] for _ in range(2))
    assert first == again == build_policy(update={"connect-src": [websocket_origin()]})
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"] | {"img-src": ["'self'"]}
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": directives}
    changed = client.get("/healthz")["Content-Security-Policy"]
    assert "img-src 'self' data:" in first and "img-src 'self';" in changed + ";"


@pytest.mark.django_db
def test_swagger_ui_comes_from_the_package_with_no_inline_script(client):
    page = client.get("/api/docs/").content.decode()
    assert "cdn" not in page.lower() and "https://" not in page and "http://" not in page
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in url for url in assets)
    for url in assets:
        response = client.get(url)
        assert response.status_code == 200, url
    # Every script is a file (the content security policy allows no inline script).
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", page)


@pytest.mark.django_db
@pytest.mark.parametrize("password", ["", "short", "12345678901"])
def test_bootstrap_demo_refuses_an_empty_or_weak_password(settings, password):
    settings.DEMO_ACCOUNT = settings.DEMO_ACCOUNT | {"password": password}
    with pytest.raises(CommandError, match="DEMO_PASSWORD"):
        call_command("bootstrap_demo")
    assert not User.objects.filter(username=settings.DEMO_ACCOUNT["username"]).exists()


@pytest.mark.django_db
def test_bootstrap_demo_with_a_generated_password(settings):
    settings.DEMO_ACCOUNT = settings.DEMO_ACCOUNT | {"password": "Zq3-generated-9Tx"}
    call_command("bootstrap_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    demo = User.objects.get(username=settings.DEMO_ACCOUNT["username"])
    assert demo.is_superuser and demo.check_password("Zq3-generated-9Tx")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_swagger_ui_renders_in_chromium_under_the_policy(live_server):
    from testing.browser import chromium_browser

    with chromium_browser() as browser:
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda message: message.type == "error" and problems.append(message.text))
        page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
        page.goto(f"{live_server.url}/api/docs/")
        page.wait_for_selector(".opblock-tag", timeout=20_000)
        assert "Messenger API" in page.content()
        assert not problems, problems


@pytest.mark.parametrize(("max_files", "nodes"), [(20_000, 2), (65_536, 1)])
def test_the_rendered_configs_hold_edge_max_websockets_within_each_process_descriptor_limit(
    settings, tmp_path, monkeypatch, max_files, nodes
):
    """supervisord's, nginx's and every Centrifugo node's config, rendered for
    EDGE_MAX_WEBSOCKETS on a machine whose processes may each open `max_files` descriptors,
    agree: enough Centrifugo processes that each holds its share below its own limit (a
    descriptor per client, plus its reserve), each one started by supervisord, each one in
    nginx's upstream, the Redis engine between them when there are several; nginx's workers
    hold two connections per WebSocket within their own limit."""
    import json

    import ops.serving
    from ops import centrifugo

    monkeypatch.setattr(ops.serving, "max_open_files", lambda: max_files)
    monkeypatch.setenv("FLOWER_PASSWORD", "a-secret")
    settings.STATE_DIR, settings.STATIC_ROOT = tmp_path, tmp_path / "static"
    settings.EDGE_MAX_WEBSOCKETS, settings.CENTRIFUGO_NODES, settings.CENTRIFUGO_CONNECTION_LIMIT = 20_000, 0, 0
    settings.CENTRIFUGO_ENGINE = "memory"

    supervisord = ops.serving.supervisord_config_write().read_text()
    nginx = (tmp_path / "nginx" / "nginx.conf").read_text()
    assert centrifugo.node_count() == nodes
    programs = re.findall(r"^\[program:(centrifugo\d*)\]\ncommand=(.*)$", supervisord, re.M)
    assert programs == [
        ("centrifugo" if n == 0 else f"centrifugo{n + 1}", f"{ROOT}/scripts/centrifugo.sh {n}") for n in range(nodes)
    ]
    # Several nodes split the machine's cores; one keeps Go's default.
    sections = re.findall(r"^\[program:centrifugo\d*\]\n(.*?)(?=^\[|\Z)", supervisord, re.M | re.S)
    processors = max(1, len(os.sched_getaffinity(0)) // nodes)
    environments = [re.findall(r"^environment=(.*)$", section, re.M) for section in sections]
    assert environments == [[f'GOMAXPROCS="{processors}"'] if nodes > 1 else []] * nodes
    configs = []
    for n in range(nodes):
        path = centrifugo.config_write(tmp_path / f"node{n}.json", **centrifugo.node_overrides(n))
        configs.append(json.loads(path.read_text()))
    limits = [config["client"]["connection_limit"] for config in configs]
    assert all(limit + centrifugo.RESERVED_FILES <= max_files for limit in limits)
    assert sum(limits) >= settings.EDGE_MAX_WEBSOCKETS
    ports = [config["http_server"]["port"] for config in configs]
    assert len(set(ports)) == nodes and ports[0] == settings.CENTRIFUGO_PORT
    assert configs[0]["http_server"]["internal_port"] == str(settings.CENTRIFUGO_INTERNAL_PORT)
    upstream = re.search(r"upstream centrifugo \{(.*?)\}", nginx, re.S).group(1)
    assert "least_conn;" in upstream
    assert re.findall(r"server 127\.0\.0\.1:(\d+)", upstream) == [str(port) for port in ports]
    engines = {config["engine"]["type"] for config in configs}
    assert engines == ({"redis"} if nodes > 1 else {"memory"})
    assert len({config["node"]["name"] for config in configs}) == nodes
    # nginx: two connections per WebSocket, within each worker's descriptor limit.
    workers = int(re.search(r"^worker_processes (\d+);", nginx, re.M).group(1))
    connections = int(re.search(r"worker_connections (\d+);", nginx).group(1))
    assert f"worker_rlimit_nofile {max_files};" in nginx
    assert connections < max_files and workers * connections >= 2 * settings.EDGE_MAX_WEBSOCKETS
    assert f"minfds={max_files}" in supervisord
