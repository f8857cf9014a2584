"""The in-process token cache (accounts.token_cache): a known token costs no query, nor a
Redis read while nothing is revoked, and every change that ends a token or alters its user is
seen by the very next request, in this process and in every process of a multi-process web
server."""

import contextlib
import time

import httpx
import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework.test import APIClient

from accounts import token_cache
from accounts.models import TokenRevocation, User
from accounts.services import token_create, user_access_revoke, user_deactivate
from accounts.tasks import token_revocations_publish
from testing.processes import in_forked_child
from testing.site import WsgiServer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    token_cache.clear()
    yield
    token_cache.clear()


def _with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _redis_unreachable(monkeypatch) -> None:
    """The cache's Redis becomes a real client on a port nothing listens on: every call fails
    at once. Both the client and the down-until mark are put back after the test."""
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(token_cache, "_redis", lambda: unreachable)
    monkeypatch.setattr(token_cache, "_redis_down_until", 0.0)


def _cached(client: APIClient, django_assert_num_queries) -> None:
    """Makes sure the token is cached: a second request makes no query."""
    assert client.get("/api/me/").status_code == 200
    with django_assert_num_queries(0):
        assert client.get("/api/me/").status_code == 200


def test_logout_ends_a_cached_token_at_once(make_user, django_assert_num_queries):
    client = _with(token_create(user=make_user("ada")))
    _cached(client, django_assert_num_queries)
    assert client.post("/api/auth/logout/").status_code == 204
    assert client.get("/api/me/").status_code == 401


def test_logout_everywhere_and_deactivation_end_cached_tokens(make_user, django_assert_num_queries):
    user = make_user("bob")
    first, second = _with(token_create(user=user)), _with(token_create(user=user))
    _cached(first, django_assert_num_queries)
    user_access_revoke(user=user)
    assert first.get("/api/me/").status_code == 401
    other = make_user("cy")
    third = _with(token_create(user=other))
    _cached(third, django_assert_num_queries)
    user_deactivate(user=other)
    assert third.get("/api/me/").status_code == 401
    assert second.get("/api/me/").status_code == 401


def test_a_changed_user_is_read_again(make_user, django_assert_num_queries):
    user = make_user("dee")
    client = _with(token_create(user=user))
    _cached(client, django_assert_num_queries)
    user.username = "dora"
    user.save()
    assert client.get("/api/me/").json()["username"] == "dora"


def test_signing_in_again_keeps_the_other_tokens_cached(make_user, django_assert_num_queries):
    client = _with(token_create(user=make_user("eve")))
    _cached(client, django_assert_num_queries)
    # A login stamps last_login (a save of the user): not a reason to read every token again.
    login = APIClient().post("/api/auth/token/", {"username": "eve", "password": "pass-word-42"}, format="json")
    assert login.status_code == 200
    with django_assert_num_queries(0):
        assert client.get("/api/me/").status_code == 200


def test_a_view_cannot_change_the_cached_instances(make_user, django_assert_num_queries):
    user = make_user("fay")
    key = token_create(user=user)
    client = _with(key)
    _cached(client, django_assert_num_queries)
    (entry,) = token_cache._entries.values()
    copy, token = token_cache.get(next(iter(token_cache._entries)))
    copy.username = "changed"
    token.pk = None
    assert entry.user.username == "fay" and entry.token.pk is not None
    assert token.user is copy


def test_without_redis_the_database_decides_and_nothing_is_cached(make_user, django_assert_num_queries, monkeypatch):
    _redis_unreachable(monkeypatch)
    user = make_user("gus")
    client = _with(token_create(user=user))
    for _ in range(3):
        with django_assert_num_queries(1):
            assert client.get("/api/me/").status_code == 200
    assert not token_cache._entries
    user_access_revoke(user=user)  # the revocation cannot be published: the database still says no
    assert client.get("/api/me/").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_the_next_request_after_logout_is_refused_in_every_web_process(make_user, settings, tmp_path):
    """granian with 2 worker processes of several threads: both cache the token, then one logs
    it out, and no request after that is served from either process's cache. Each process
    trusts the revocation epoch it read for 2 s here, far longer than the requests take: only
    the revocation's wait keeps the other process from serving the token."""
    settings.AUTH_TOKEN_REVOCATION_SECONDS = 2.0  # for a revocation made here
    web = WsgiServer(workers=2, log_path=tmp_path / "wsgi.log").start(AUTH_TOKEN_REVOCATION_SECONDS="2.0")
    try:
        user = make_user("hal")
        for revoke_here in (False, True):
            key = token_create(user=user)
            headers = {"Authorization": f"Token {key}"}
            # New connections spread the requests over both processes; each caches the token.
            for _ in range(30):
                assert httpx.get(f"{web.url}/api/me/", headers=headers).status_code == 200
            if revoke_here:  # another process (this one: the admin, a shell) deletes the tokens
                user_access_revoke(user=User.objects.get(pk=user.pk))
            else:
                assert httpx.post(f"{web.url}/api/auth/logout/", headers=headers).status_code == 204
            statuses = {httpx.get(f"{web.url}/api/me/", headers=headers).status_code for _ in range(30)}
            assert statuses == {401}
    finally:
        web.stop()


@pytest.mark.django_db(transaction=True)
def test_a_revocation_redis_missed_is_published_by_the_periodic_task(make_user, worker, monkeypatch, tmp_path):
    """The revoking process (an admin's shell) cannot reach Redis, the web server's processes
    can: they serve the token from memory, until the periodic task, on a real worker,
    publishes the revocation written down in the revoking transaction."""
    web = WsgiServer(workers=2, log_path=tmp_path / "wsgi.log").start()
    try:
        key = token_create(user=make_user("lee"))
        token_key = key[: CONSTANTS.TOKEN_KEY_LENGTH]
        headers = {"Authorization": f"Token {key}"}
        for _ in range(30):
            assert httpx.get(f"{web.url}/api/me/", headers=headers).status_code == 200
        with monkeypatch.context() as patch:
            _redis_unreachable(patch)
            AuthToken.objects.filter(token_key=token_key).delete()
        assert list(TokenRevocation.objects.values_list("token_key", flat=True)) == [token_key]
        assert httpx.get(f"{web.url}/api/me/", headers=headers).status_code == 200  # what the task ends

        assert token_revocations_publish.delay().get(timeout=30) == 1

        time.sleep(2 * settings.AUTH_TOKEN_REVOCATION_SECONDS)  # the processes' epochs are due
        assert {httpx.get(f"{web.url}/api/me/", headers=headers).status_code for _ in range(30)} == {401}
        assert not TokenRevocation.objects.exists()
    finally:
        web.stop()


@pytest.mark.django_db(transaction=True)
def test_a_revocation_redis_took_is_not_left_written_down(make_user):
    client = _with(token_create(user=make_user("max")))
    assert client.post("/api/auth/logout/").status_code == 204
    assert not TokenRevocation.objects.exists()


def test_a_transaction_writes_each_revocation_once(make_user, django_capture_on_commit_callbacks):
    """A deactivation saves the user (every token of theirs revoked) and then deletes each
    token (each revoked again): one row per token. A revocation inside a savepoint that rolls
    back was never written, so the same token revoked after it is written again."""
    user = make_user("once")
    keys = {token_create(user=user)[: CONSTANTS.TOKEN_KEY_LENGTH] for _ in range(2)}
    with django_capture_on_commit_callbacks():
        user_deactivate(user=user)
        assert sorted(TokenRevocation.objects.values_list("token_key", flat=True)) == sorted(keys)
    key = token_create(user=make_user("twice"))[: CONSTANTS.TOKEN_KEY_LENGTH]
    with django_capture_on_commit_callbacks(), transaction.atomic():
        with contextlib.suppress(RuntimeError), transaction.atomic():
            token_cache.revoke([key])
            raise RuntimeError("rolled back")
        token_cache.revoke([key])
        token_cache.revoke([key])
        assert list(TokenRevocation.objects.filter(token_key=key).values_list("token_key", flat=True)) == [key]


def test_a_redis_that_lost_its_keys_leaves_no_cached_token_in_use(make_user, django_assert_num_queries, settings):
    settings.AUTH_TOKEN_REVOCATION_SECONDS = 0.2
    key = token_create(user=make_user("hal"))
    client = _with(key)
    _cached(client, django_assert_num_queries)
    # The token ends while Redis is away, so its revocation never reaches Redis (no signal
    # here), and Redis comes back without its keys (a restart without persistence).
    token_key = key[: CONSTANTS.TOKEN_KEY_LENGTH]
    with connection.cursor() as cursor:
        cursor.execute("delete from knox_authtoken where token_key = %s", [token_key])
    token_cache._redis().delete(token_cache._key(token_key), token_cache._epoch_key())
    time.sleep(settings.AUTH_TOKEN_REVOCATION_SECONDS)  # this process reads the epoch again
    assert client.get("/api/me/").status_code == 401


def test_while_nothing_is_revoked_a_known_token_needs_no_redis(
    make_user, django_assert_num_queries, settings, monkeypatch
):
    settings.AUTH_TOKEN_REVOCATION_SECONDS = 30  # the epoch read by _cached() stays current
    client = _with(token_create(user=make_user("ivy")))
    _cached(client, django_assert_num_queries)
    _redis_unreachable(monkeypatch)
    with django_assert_num_queries(0):
        assert client.get("/api/me/").status_code == 200
    # Once the epoch is due again it cannot be read: the database decides.
    settings.AUTH_TOKEN_REVOCATION_SECONDS = 0
    with django_assert_num_queries(1):
        assert client.get("/api/me/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_revocation_answers_once_every_process_has_read_the_epoch_again(make_user, settings):
    wait = settings.AUTH_TOKEN_REVOCATION_SECONDS = 0.5
    user = make_user("jo")
    client = _with(token_create(user=user))
    assert client.get("/api/me/").status_code == 200
    started = time.monotonic()
    assert client.post("/api/auth/logout/").status_code == 204
    assert time.monotonic() - started >= wait
    # However many tokens one transaction ends, it waits once: a wait per token would be
    # five, and the bound leaves three waits' time for the work itself.
    for _ in range(5):
        token_create(user=user)
    started = time.monotonic()
    user_access_revoke(user=user)
    assert wait <= time.monotonic() - started < 4 * wait


@pytest.mark.django_db(transaction=True)
def test_a_revocation_on_a_redis_that_lost_its_keys_starts_from_a_fresh_value(make_user):
    """INCR on a missing key gives 1, and twice lost, 1 again: an entry read under the first
    would match the second. A revocation starts a missing counter from a random value."""
    key = token_create(user=make_user("kim"))
    token_key = key[: CONSTANTS.TOKEN_KEY_LENGTH]
    token_cache._redis().delete(token_cache._key(token_key), token_cache._epoch_key())
    token_cache.revoke([token_key])
    assert token_cache.generation(token_key) > 1
    token_cache.clear()
    assert token_cache.epoch() > 1


def test_a_forked_child_asks_redis_on_a_connection_of_its_own():
    """Each thread's client holds its connection; a child forked after the parent's thread
    made one (Celery's prefork pool) must not write on the parent's socket."""
    parent = token_cache._redis()
    assert parent.ping()
    assert in_forked_child(lambda: token_cache._redis() is not parent and token_cache._redis().ping())
    assert parent.ping() and token_cache._redis() is parent
