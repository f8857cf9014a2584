"""Throttles on Redis: each scope answers 429 with Retry-After and the JSON error body once
its rate is spent, counts per user (or per address when anonymous), and lets requests
through when Redis cannot be reached."""

import pytest
from django.core.cache import caches

from chats.models import Membership
from testing.processes import in_forked_child

pytestmark = pytest.mark.django_db


def _assert_throttled(response) -> None:
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    body = response.json()
    assert set(body) == {"message", "extra"} and body["message"]


def test_login_is_throttled_per_address(api_client, make_user, throttle_rates):
    throttle_rates(login="3/min")
    make_user("ann")
    body = {"username": "ann", "password": "pass-word-42"}
    for _ in range(3):
        assert api_client.post("/api/auth/token/", body, format="json").status_code == 200
    _assert_throttled(api_client.post("/api/auth/token/", body, format="json"))
    # Another address has its own count (REMOTE_ADDR; no proxy is trusted by default).
    assert api_client.post("/api/auth/token/", body, format="json", REMOTE_ADDR="10.0.0.9").status_code == 200


def test_a_spoofed_forwarded_for_does_not_reset_the_count(api_client, make_user, throttle_rates, settings):
    settings.TRUSTED_PROXY_COUNT = 1  # nginx in front appends the real address
    throttle_rates(login="2/min")
    make_user("bea")
    body = {"username": "bea", "password": "pass-word-42"}
    for fake in ("1.1.1.1", "2.2.2.2"):
        response = api_client.post("/api/auth/token/", body, format="json", HTTP_X_FORWARDED_FOR=f"{fake}, 10.1.1.1")
        assert response.status_code == 200
    _assert_throttled(
        api_client.post("/api/auth/token/", body, format="json", HTTP_X_FORWARDED_FOR="3.3.3.3, 10.1.1.1")
    )


def test_register_is_throttled(api_client, throttle_rates):
    throttle_rates(register="2/hour")
    for i in range(2):
        body = {"username": f"new{i}", "email": f"new{i}@example.com", "password": "correct-horse-battery-9"}
        assert api_client.post("/api/auth/register/", body, format="json").status_code == 202
    body = {"username": "new9", "email": "new9@example.com", "password": "correct-horse-battery-9"}
    _assert_throttled(api_client.post("/api/auth/register/", body, format="json"))


def test_message_posting_is_throttled_per_user(team, client_for, throttle_rates):
    throttle_rates(message_post="3/min")
    url = f"/api/chats/{team.chat.pk}/messages/"
    member, admin = client_for(team.member), client_for(team.admin)
    for i in range(3):
        assert member.post(url, {"text": f"m{i}"}, format="json").status_code == 201
    _assert_throttled(member.post(url, {"text": "one too many"}, format="json"))
    # Reading is not posting, and another user has a count of their own.
    assert member.get(url).status_code == 200
    assert admin.post(url, {"text": "mine"}, format="json").status_code == 201


def test_member_add_is_throttled(team, make_user, client_for, throttle_rates):
    throttle_rates(member_add="2/min")
    owner = client_for(team.owner)
    url = f"/api/chats/{team.chat.pk}/members/"
    for _ in range(2):
        assert owner.post(url, {"user_id": make_user().pk}, format="json").status_code == 201
    _assert_throttled(owner.post(url, {"user_id": make_user().pk}, format="json"))
    assert team.chat.memberships.count() == 5
    assert owner.get(url).status_code == 200
    assert Membership.objects.filter(chat=team.chat).count() == 5


def test_web_user_lookup_and_signup_are_throttled(client, make_user, throttle_rates):
    throttle_rates(user_lookup="2/min", register="1/hour")
    client.force_login(make_user("cat"))
    make_user("dan")
    for _ in range(2):
        assert client.get("/users/lookup/", {"username": "dan"}).status_code == 200
    _assert_throttled(client.get("/users/lookup/", {"username": "dan"}, HTTP_ACCEPT="application/json"))

    client.logout()
    form = {"username": "eve", "email": "eve@example.com", "password": "correct-horse-battery-9"}
    assert client.post("/signup/", form).status_code == 200  # the sign-up page's "thank you"
    response = client.post("/signup/", form | {"username": "eve2", "email": "eve2@example.com"})
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert client.get("/signup/").status_code == 200  # only POSTs count


def test_redis_unreachable_lets_requests_through(api_client, make_user, throttle_rates, settings):
    throttle_rates(login="1/min")
    # Django rebuilds its cache connections when CACHES changes (and back after the test).
    settings.CACHES = settings.CACHES | {
        "throttle": settings.CACHES["throttle"] | {"LOCATION": "redis://127.0.0.1:1/0"}
    }
    make_user("fay")
    body = {"username": "fay", "password": "pass-word-42"}
    for _ in range(3):
        assert api_client.post("/api/auth/token/", body, format="json").status_code == 200


def test_the_processes_behind_nginx_trust_its_forwarded_for(tmp_path, settings, monkeypatch):
    """nginx overwrites X-Forwarded-For with the client's address; the web and feed
    processes under supervisord believe that one hop (else every client would count as
    nginx's 127.0.0.1)."""
    import re

    from ops.serving import supervisord_config_write

    settings.STATE_DIR, settings.STATIC_ROOT = tmp_path, tmp_path / "static"
    monkeypatch.setenv("FLOWER_PASSWORD", "a-secret")
    config = supervisord_config_write().read_text()
    for program in ("web", "feed"):
        section = re.search(rf"^\[program:{program}\]\n(.*?)(?=^\[|\Z)", config, re.M | re.S).group(1)
        assert 'TRUSTED_PROXY_COUNT="1"' in section, section
    nginx = (tmp_path / "nginx" / "nginx.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in nginx
    assert "proxy_set_header X-Forwarded-Proto $forwarded_proto;" in nginx  # SECURE_PROXY_SSL_HEADER


def test_a_window_counts_what_it_let_through_and_ends_on_time(team, client_for, throttle_rates):
    """One counter per scope and client, expiring with its window; a refused request is not
    counted, and Retry-After is what is left of the window."""
    from django.core.cache import caches

    throttle_rates(message_post="2/min")
    member = client_for(team.member)
    url = f"/api/chats/{team.chat.pk}/messages/"
    for i in range(2):
        assert member.post(url, {"text": f"m{i}"}, format="json").status_code == 201
    for _ in range(3):
        response = member.post(url, {"text": "refused"}, format="json")
        _assert_throttled(response)
        assert int(response["Retry-After"]) <= 60
    cache = caches["throttle"]
    key = cache.make_key(f"window_message_post_user-{team.member.pk}")
    client = cache.redis()
    assert int(client.get(key)) == 2
    assert 0 < client.ttl(key) <= 60


def test_a_forked_child_counts_on_a_redis_connection_of_its_own():
    """The throttle cache's client holds its connection (core.cache); a child forked after the
    parent used it (Celery's prefork pool) must not write on the parent's socket."""
    parent = caches["throttle"].redis()
    assert parent.ping()
    assert in_forked_child(lambda: caches["throttle"].redis() is not parent and caches["throttle"].redis().ping())
    assert parent.ping() and caches["throttle"].redis() is parent
