"""/metrics (core.metrics): the Prometheus text with the product's metric names, on the
servers' own ports; the public site (nginx) refuses it."""

import httpx
import pytest
from knox.models import AuthToken

from accounts.services import token_create

REQUEST_METRICS = (
    "messenger_http_request_duration_seconds_bucket",
    "messenger_http_refusals_total",
    "messenger_messages_accepted_total",
    "messenger_outbox_backlog",
    "messenger_outbox_oldest_age_seconds",
    "messenger_token_revocations_unpublished",
    "messenger_token_revocations_oldest_age_seconds",
)


def _value(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " "))


@pytest.mark.django_db
def test_metrics_name_what_to_watch(client, team, client_for):
    poster = client_for(team.member)
    assert poster.post(f"/api/chats/{team.chat.pk}/messages/", {"text": "hi"}, format="json").status_code == 201
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for name in REQUEST_METRICS:
        assert name in text, name
    assert 'route="api/chats/<int:chat_id>/messages/"' in text
    assert _value(text, "messenger_outbox_backlog") >= 1  # no Centrifugo here: the event waits


@pytest.mark.django_db
def test_a_revocation_redis_has_not_been_told_of_is_counted(client, make_user):
    token_create(user=make_user("ann"))
    # The test's transaction never commits: the revocation stays written down, as one whose
    # telling Redis failed would (accounts.token_cache).
    AuthToken.objects.all().delete()
    assert _value(client.get("/metrics").content.decode(), "messenger_token_revocations_unpublished") == 1


@pytest.mark.django_db
def test_a_request_through_a_proxy_is_refused(client):
    response = client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}


def test_the_web_server_answers_for_all_its_workers_and_nginx_refuses(site, team):
    headers = {"Authorization": f"Token {token_create(user=team.member)}"}
    posts = 20
    for _ in range(posts):  # new connections: both workers take some
        response = httpx.post(f"{site.url}/api/chats/{team.chat.pk}/messages/", json={"text": "x"}, headers=headers)
        assert response.status_code == 201
    public = httpx.get(f"{site.url}/metrics")
    assert public.status_code == 404 and "messenger_" not in public.text
    internal = httpx.get(f"{site.web.url}/metrics")  # the web server's own port: the internal side
    assert internal.status_code == 200
    # A labelled series appears once it has a sample (multiprocess mode): no refusal here.
    for name in set(REQUEST_METRICS) - {"messenger_http_refusals_total"}:
        assert name in internal.text, name
    # Every worker's count, whichever worker answers the scrape.
    assert _value(internal.text, "messenger_messages_accepted_total") >= posts
    feed = httpx.get(f"{site.feed.url}/metrics")  # uvicorn's: the feed's process
    assert feed.status_code == 200 and "messenger_http_request_duration_seconds" in feed.text
