from datetime import timedelta

import pytest
from django.utils import timezone
from knox.models import AuthToken

pytestmark = pytest.mark.django_db

STRONG = "correct-horse-battery-9"


def test_register_then_token_then_me(api_client):
    response = api_client.post(
        "/api/auth/register/", {"username": "alice", "email": "Alice@Example.com", "password": STRONG}, format="json"
    )
    assert response.status_code == 202, response.data
    assert set(response.data) == {"message"}  # the same for a taken name or address (test_enumeration)

    response = api_client.post("/api/auth/token/", {"username": "alice", "password": STRONG}, format="json")
    assert response.status_code == 200
    token = response.data["token"]

    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = api_client.get("/api/me/")
    assert response.status_code == 200
    assert response.data["email"] == "alice@example.com"


def test_register_refuses_weak_password_with_a_field_message(api_client):
    response = api_client.post(
        "/api/auth/register/", {"username": "bob", "email": "bob@example.com", "password": "123"}, format="json"
    )
    assert response.status_code == 400
    assert "password" in response.data["extra"]["fields"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "x" * 151, "email": "e@example.com", "password": STRONG},
        {"username": "has space", "email": "e@example.com", "password": STRONG},
        {"username": "eve", "email": "not-an-email", "password": STRONG},
        {"username": ["eve"], "email": "e@example.com", "password": STRONG},
        {"username": "eve\x00", "email": "e@example.com", "password": STRONG},
    ],
)
def test_register_bad_input_is_400(api_client, body):
    response = api_client.post("/api/auth/register/", body, format="json")
    assert response.status_code == 400
    assert response.data["extra"]["fields"]


def test_token_with_wrong_password_is_400(api_client, make_user):
    make_user("frank")
    response = api_client.post("/api/auth/token/", {"username": "frank", "password": "nope"}, format="json")
    assert response.status_code == 400
    assert response.data["message"]


def test_anonymous_me_is_401(api_client):
    assert api_client.get("/api/me/").status_code == 401


def test_expired_token_is_refused_and_a_new_one_is_issued(api_client, make_user):
    user = make_user("grace")
    token, key = AuthToken.objects.create(user=user)
    AuthToken.objects.filter(pk=token.pk).update(expiry=timezone.now() - timedelta(seconds=1))

    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = api_client.get("/api/me/")
    assert response.status_code == 401
    assert "expired" in response.data["message"]

    api_client.credentials()
    response = api_client.post("/api/auth/token/", {"username": "grace", "password": "pass-word-42"}, format="json")
    assert response.status_code == 200
    assert response.data["token"] != key
    # Signing in deleted the expired token.
    assert list(AuthToken.objects.filter(user=user)) == [AuthToken.objects.get(user=user)]
    assert not AuthToken.objects.filter(pk=token.pk).exists()
