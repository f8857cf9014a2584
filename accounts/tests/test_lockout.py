"""Brute-force lockout (django-axes) on the web login form, the Django admin's login and
the API token endpoint: after AXES_FAILURE_LIMIT failures for a username from one address,
even the right password is refused with 429 until the cool-off ends."""

import pytest
from django.contrib.auth import SESSION_KEY
from rest_framework.test import APIClient

from accounts.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "pass-word-42"
LOGIN_FORMS = {"web": "/login/", "admin": "/admin/login/"}


@pytest.fixture
def limit(settings) -> int:
    settings.AXES_FAILURE_LIMIT = 3
    return 3


@pytest.mark.parametrize("form", LOGIN_FORMS)
def test_login_form_locks_out_after_the_failure_limit(client, make_user, limit, form):
    user = make_user("ann", is_staff=True, is_superuser=True)
    url = LOGIN_FORMS[form]
    for _ in range(limit - 1):
        response = client.post(url, {"username": "ann", "password": "wrong"})
        assert response.status_code == 200  # the form again, with its error
    assert client.post(url, {"username": "ann", "password": "wrong"}).status_code == 429

    response = client.post(url, {"username": "ann", "password": PASSWORD})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many failed sign-ins" in response.content.decode()
    assert SESSION_KEY not in client.session
    # The same name from another address, and another name from this one, may still sign in.
    other = client.post(url, {"username": "ann", "password": PASSWORD}, REMOTE_ADDR="10.0.0.7")
    assert other.status_code == 302
    assert user.pk


def test_api_token_locks_out_with_the_json_error_body(make_user, limit):
    make_user("bea")
    client = APIClient()
    for _ in range(limit - 1):
        response = client.post("/api/auth/token/", {"username": "bea", "password": "wrong"}, format="json")
        assert response.status_code == 400
    response = client.post("/api/auth/token/", {"username": "bea", "password": "wrong"}, format="json")
    assert response.status_code == 429
    response = client.post("/api/auth/token/", {"username": "bea", "password": PASSWORD}, format="json")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert set(response.json()) == {"message", "extra"}
    assert "Too many failed sign-ins" in response.json()["message"]


def test_a_success_forgets_the_failures(make_user, limit):
    make_user("cat")
    client = APIClient()
    for _ in range(limit - 1):
        client.post("/api/auth/token/", {"username": "cat", "password": "wrong"}, format="json")
    assert client.post("/api/auth/token/", {"username": "cat", "password": PASSWORD}, format="json").status_code == 200
    for _ in range(limit - 1):
        response = client.post("/api/auth/token/", {"username": "cat", "password": "wrong"}, format="json")
        assert response.status_code == 400
    assert User.objects.get(username="cat").is_active
