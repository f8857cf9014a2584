"""Log out everywhere ends every token and every browser session of the user (deleted from
the session store: a stolen cookie is worthless) and their streams; a password change or a
logout everywhere with N live tokens is one revocation (one event, one disconnect), not 1 + N."""

import asyncio

import httpx
import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import UserSession
from accounts.services import token_create
from realtime.models import CentrifugoOutbox, Event

PASSWORD = "pass-word-42"  # conftest's make_user
# Each request its own transaction, as in production (a transaction revokes a user once).
pytestmark = pytest.mark.django_db(transaction=True)


def _with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _browser(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def _revocations(user) -> tuple[int, int]:
    events = Event.objects.filter(type="user.revoked", also_to__contains=[user.pk]).count()
    disconnects = CentrifugoOutbox.objects.filter(method="disconnect", payload__user=str(user.pk)).count()
    return events, disconnects


def _sessions_of(user) -> int:
    return sum(1 for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(user.pk))


def test_logout_everywhere_ends_every_token_and_session_of_the_user_only(make_user):
    user, other = make_user("ann"), make_user("bob")
    browsers = [_browser(user) for _ in range(2)]
    stolen = browsers[1].cookies[settings.SESSION_COOKIE_NAME].value
    others_browser = _browser(other)
    keys = [token_create(user=user) for _ in range(3)]
    assert all(b.get("/api/me/").status_code == 200 for b in browsers)

    assert _with(keys[0]).post("/api/auth/logout-all/").status_code == 204

    assert all(_with(key).get("/api/me/").status_code == 401 for key in keys)
    assert all(b.get("/api/me/").status_code in (401, 403) for b in browsers)
    thief = Client()
    thief.cookies[settings.SESSION_COOKIE_NAME] = stolen
    assert thief.get("/api/me/").status_code in (401, 403)
    assert _sessions_of(user) == 0 and not UserSession.objects.filter(user=user).exists()
    # One revocation for three tokens and two sessions.
    assert _revocations(user) == (1, 1)
    # Someone else is untouched.
    assert others_browser.get("/api/me/").status_code == 200


def test_logout_everywhere_from_a_browser_is_one_revocation(make_user):
    user = make_user("cat")
    browser, elsewhere = _browser(user), _browser(user)
    for _ in range(2):
        token_create(user=user)
    response = browser.post("/api/auth/logout-all/")
    assert response.status_code == 204, response.content
    assert elsewhere.get("/api/me/").status_code in (401, 403)
    assert _revocations(user) == (1, 1)


def test_a_password_change_with_n_tokens_is_one_revocation(make_user):
    user = make_user("dan")
    keys = [token_create(user=user) for _ in range(4)]
    response = _with(keys[0]).post(
        "/api/auth/password/", {"old_password": PASSWORD, "new_password": "another-long-passphrase-7"}, format="json"
    )
    assert response.status_code == 204, response.content
    assert all(_with(key).get("/api/me/").status_code == 401 for key in keys)
    assert _revocations(user) == (1, 1)


def test_a_password_set_anywhere_is_one_revocation(make_user):
    """The admin, `changepassword`, a shell: User.save makes the change and the end of the
    tokens one transaction."""
    user = make_user("eve")
    for _ in range(3):
        token_create(user=user)
    user.set_password("another-long-passphrase-7")
    user.save()
    assert _revocations(user) == (1, 1)


def test_logout_everywhere_ends_a_session_stream_at_once(site, make_user):
    user = make_user("fay")
    browser = _browser(user)
    cookies = {settings.SESSION_COOKIE_NAME: browser.cookies[settings.SESSION_COOKIE_NAME].value}
    key = token_create(user=user)

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=site.url, timeout=20) as http,
            http.stream("GET", "/api/updates/stream/", cookies=cookies) as stream,
        ):
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith("retry:")
            await asyncio.sleep(0.5)
            response = await asyncio.to_thread(_with(key).post, "/api/auth/logout-all/")
            assert response.status_code == 204
            async with asyncio.timeout(5):
                async for line in lines:  # until the server ends the stream
                    assert not line.startswith("data:"), line

    asyncio.run(scenario())
