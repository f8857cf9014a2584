import json

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"postgresql": "ok", "redis": "ok"}


@pytest.mark.django_db
def test_readiness_reports_redis_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error")


def test_openapi_schema_is_valid_without_warnings(tmp_path):
    out = tmp_path / "schema.json"
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", str(out))
    paths = json.loads(out.read_text())["paths"]
    assert "/api/chats/{chat_id}/messages/" in paths


@pytest.mark.django_db
def test_docs_and_admin_are_served(client):
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/admin/login/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("accept", "status", "indented"),
    [
        (None, 200, False),
        ("*/*", 200, False),
        ("application/json", 200, False),
        ("text/html", 406, False),
        ("application/json; indent=2", 200, True),
        ("text/html, application/json;q=0.9", 200, False),
    ],
)
def test_content_negotiation_answers_as_drf_does(client_for, make_user, accept, status, indented):
    """core.negotiation's short way for the usual `Accept` must not change any answer."""
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    response = client_for(make_user()).get("/api/chats/", **headers)
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    assert response.content.startswith(b"{\n  ") is indented
    if status == 406:
        assert response.json()["message"]
