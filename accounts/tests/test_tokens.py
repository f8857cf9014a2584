"""API tokens (knox): hashed at rest, one per device, expiring, ended by logout, logout
everywhere, a new password and deactivation, on every path that makes those changes."""

import hashlib
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import RequestFactory
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.authentication import TokenAuthentication
from accounts.models import User
from accounts.services import token_create, user_deactivate

pytestmark = pytest.mark.django_db

PASSWORD = "pass-word-42"  # conftest's make_user
NEW_PASSWORD = "another-long-passphrase-7"


def _login(client: APIClient, username: str, password: str = PASSWORD) -> str:
    response = client.post("/api/auth/token/", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["token"]


def _with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _works(key: str) -> bool:
    status = _with(key).get("/api/me/").status_code
    assert status in (200, 401)
    return status == 200


def test_login_answers_a_token_and_its_expiry_and_stores_only_a_digest(api_client, make_user, settings):
    user = make_user("ann")
    before = timezone.now()
    response = api_client.post("/api/auth/token/", {"username": "ann", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    key, expires_at = response.json()["token"], response.json()["expires_at"]
    assert _works(key)

    row = AuthToken.objects.get(user=user)
    assert row.digest == hashlib.sha512(key.encode()).hexdigest()
    stored = " ".join(str(value) for value in AuthToken.objects.values_list(flat=False).get())
    assert key not in stored
    ttl = timedelta(seconds=settings.API_TOKEN_TTL_SECONDS)
    assert before + ttl <= row.expiry <= timezone.now() + ttl
    assert expires_at.replace("Z", "+00:00") == row.expiry.isoformat()


def test_each_login_is_a_device_of_its_own_and_logout_ends_only_this_one(api_client, make_user):
    make_user("bea")
    phone, laptop = _login(api_client, "bea"), _login(api_client, "bea")
    assert phone != laptop and _works(phone) and _works(laptop)

    assert _with(phone).post("/api/auth/logout/").status_code == 204
    assert not _works(phone)
    assert _works(laptop)


def test_logout_all_ends_every_token_of_the_user_only(api_client, make_user):
    make_user("cat")
    make_user("dan")
    tokens = [_login(api_client, "cat") for _ in range(3)]
    other = _login(api_client, "dan")

    assert _with(tokens[0]).post("/api/auth/logout-all/").status_code == 204
    assert [_works(key) for key in tokens] == [False, False, False]
    assert _works(other)


def test_password_change_ends_every_token(api_client, make_user):
    user = make_user("eve")
    tokens = [_login(api_client, "eve") for _ in range(2)]

    response = _with(tokens[0]).post(
        "/api/auth/password/", {"old_password": "wrong", "new_password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert "old_password" in response.json()["extra"]["fields"]
    assert _works(tokens[0])

    response = _with(tokens[0]).post(
        "/api/auth/password/", {"old_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 204
    assert not any(_works(key) for key in tokens)
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert _works(_login(api_client, "eve", NEW_PASSWORD))


def test_weak_new_password_is_refused_and_tokens_stay(api_client, make_user):
    make_user("fay")
    key = _login(api_client, "fay")
    response = _with(key).post("/api/auth/password/", {"old_password": PASSWORD, "new_password": "123"}, format="json")
    assert response.status_code == 400
    assert "new_password" in response.json()["extra"]["fields"]
    assert _works(key)


def test_a_password_set_anywhere_ends_every_token(make_user):
    """set_password + save: the Django admin's password form, `changepassword`, the shell."""
    user = make_user("gus")
    key = token_create(user=user)
    user.set_password(NEW_PASSWORD)
    user.save()
    assert not _works(key)


def test_a_save_without_a_new_password_keeps_the_tokens(make_user):
    user = make_user("hal")
    key = token_create(user=user)
    user.first_name = "Hal"
    user.save()
    assert _works(key)


def test_deactivation_ends_every_token(make_user):
    user, other = make_user("ida"), make_user("jon")
    keys, other_key = [token_create(user=user) for _ in range(2)], token_create(user=other)
    user_deactivate(user=user)
    assert not AuthToken.objects.filter(user=user).exists()
    assert not any(_works(key) for key in keys)
    assert _works(other_key)


def test_deactivation_in_the_admin_ends_every_token(client, make_user):
    admin_user = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    user = make_user("kim")
    key = token_create(user=user)
    client.force_login(admin_user)
    # The change form as a browser sends it with "Active" unticked.
    data = {
        "username": user.username,
        "email": user.email,
        "first_name": "",
        "last_name": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    response = client.post(f"/admin/accounts/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert not user.is_active
    assert not _works(key)


def test_inactive_users_token_is_refused(make_user):
    user = make_user("lea")
    key = token_create(user=user)
    User.objects.filter(pk=user.pk).update(is_active=False)  # behind the model's back
    response = _with(key).get("/api/me/")
    assert response.status_code == 401
    assert response.json()["message"] == "User inactive or deleted."


@pytest.mark.parametrize("header", ["Token", "Token a b", "Token not-hex-\u00e9", "Token " + "f" * 64])
def test_bad_token_headers_are_401_in_the_error_body(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/me/")
    assert response.status_code == 401
    assert set(response.json()) == {"message", "extra"}


def test_token_authentication_is_one_query_then_none_while_cached(make_user, django_assert_num_queries):
    key = token_create(user=make_user("max"))
    request = RequestFactory().get("/api/me/", HTTP_AUTHORIZATION=f"Token {key}")
    with django_assert_num_queries(1):
        user, token = TokenAuthentication().authenticate(request)
    assert user.username == "max" and token.user_id == user.pk
    # Then the token is known (accounts.token_cache): a whole authenticated request that
    # reads nothing else makes no query at all.
    with django_assert_num_queries(0):
        assert _with(key).get("/api/me/").status_code == 200


def test_token_limit_per_user_pushes_the_oldest_out(api_client, make_user, settings):
    settings.REST_KNOX = settings.REST_KNOX | {"TOKEN_LIMIT_PER_USER": 2}
    make_user("ned")
    first, second, third = (_login(api_client, "ned") for _ in range(3))
    assert [_works(first), _works(second), _works(third)] == [False, True, True]


def test_no_admin_page_shows_a_usable_key(client, make_user):
    admin_user = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    user = make_user("ola")
    key = token_create(user=user)
    token = AuthToken.objects.get(user=user)
    client.force_login(admin_user)

    listing = client.get("/admin/knox/authtoken/")
    assert listing.status_code == 200
    assert "ola" in listing.content.decode()
    detail = client.get(f"/admin/knox/authtoken/{token.pk}/change/")
    assert detail.status_code == 200
    for page in (listing, detail):
        assert key not in page.content.decode()
        assert key[:15] not in page.content.decode()
    assert client.get("/admin/knox/authtoken/add/").status_code == 403
    # DRF's own token app (plain-text keys) is gone.
    assert client.get("/admin/authtoken/").status_code == 404
    # Deleting a token in the admin revokes it.
    response = client.post(f"/admin/knox/authtoken/{token.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not _works(key)


def test_changepassword_command_ends_every_token(make_user, monkeypatch):
    user = make_user("pia")
    key = token_create(user=user)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW_PASSWORD)
    call_command("changepassword", "pia", stdout=io.StringIO())
    assert not _works(key)


def test_tokens_create_makes_a_working_token_per_user_in_one_insert(make_user, django_assert_num_queries):
    from accounts.services import tokens_create

    users = [make_user() for _ in range(3)]
    with django_assert_num_queries(1):
        keys = tokens_create(users=users)
    assert set(keys) == {user.pk for user in users}
    assert all(_works(key) for key in keys.values())
