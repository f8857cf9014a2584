"""Deployment: production settings pass `check --deploy`; every answer has the security
headers and a content security policy; Swagger UI comes from the package, not a CDN; the
demo superuser needs a real password."""

import os
import re
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from accounts.models import User

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
