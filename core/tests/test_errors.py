"""Every error answers in the project's JSON error body, a server error included: never
Django's HTML page."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def failing_client(settings) -> Client:
    settings.ROOT_URLCONF = "core.tests.error_urls"
    settings.DEBUG = False
    # Answer like a server: the exception becomes a response instead of reaching the test.
    return Client(raise_request_exception=False)


@pytest.mark.parametrize("path, accept", [("/api/broken/", "*/*"), ("/broken/", "text/html")])
def test_a_server_error_is_the_json_error_body(failing_client, path, accept, caplog):
    response = failing_client.get(path, HTTP_ACCEPT=accept)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "Server error.", "extra": {}}
    # ... and the traceback is in the log, not in the answer.
    assert any("RuntimeError" in (record.exc_text or "") or record.exc_info for record in caplog.records)
    assert "a bug in" not in response.content.decode()


@pytest.mark.parametrize("path", ["/api/no-such-thing/", "/api/chats/x/"])
def test_an_unknown_api_path_is_404_in_json(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}


def test_an_unknown_page_stays_a_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_refused_csrf_check_on_an_api_path_is_json(make_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user())
    # The web page's session on a DRF view: DRF's own CSRF check, its error body.
    response = client.post("/api/chats/", {"title": "x"}, content_type="application/json")
    assert response.status_code == 403
    assert set(response.json()) == {"message", "extra"}
