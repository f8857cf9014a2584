"""bench.web_metrics: the message POST's p50 / p99 in Django over a window, read from the web
server's histograms as scenario 2 reads them."""

import math

import httpx
import pytest

from accounts.services import token_create
from bench.web_metrics import histograms, quantile_ms, window_figures


def test_a_quantile_is_interpolated_within_its_bucket():
    before = {0.005: 10.0, 0.01: 10.0, math.inf: 10.0}
    after = {0.005: 60.0, 0.01: 110.0, math.inf: 110.0}  # 50 up to 5 ms, 50 between 5 and 10

    assert quantile_ms(before, after, 0.5) == 5.0
    assert quantile_ms(before, after, 0.75) == 7.5
    assert quantile_ms(before, before, 0.5) is None  # nothing observed in the window
    assert quantile_ms({}, {0.01: 0.0, math.inf: 4.0}, 0.5) == 10.0  # past the last bound: a floor


@pytest.mark.django_db
def test_the_posts_of_a_window_are_read_from_both_workers(site, team):
    headers = {"Authorization": f"Token {token_create(user=team.member)}"}
    before = histograms(site.web.port)
    for _ in range(20):  # new connections: both workers take some
        response = httpx.post(f"{site.url}/api/chats/{team.chat.pk}/messages/", json={"text": "x"}, headers=headers)
        assert response.status_code == 201
    after = histograms(site.web.port)

    assert after["post"][math.inf] - before["post"].get(math.inf, 0.0) == 20
    figures = window_figures(before, after)
    assert 0 < figures["django_post_p50_ms"] <= figures["django_post_p99_ms"]
    assert figures["queue_wait_p99_ms"] is not None
    # One client posting in turn: no write waited behind another's transaction.
    assert figures["group_commit_waited_share"] == 0 and figures["group_commit_wait_p99_ms"] is None
    assert figures["refused_in_web"] == figures["group_commit_fallbacks"] == 0


@pytest.mark.django_db
def test_the_posts_the_web_refused_are_counted(site, team):
    """Straight to the WSGI server, with nginx's stamp forged as sent in 1970: past the queue bound,
    refused before Django (core.worker.queue_time_limited), and counted as scenario 2 counts."""
    headers = {"Authorization": f"Token {token_create(user=team.member)}", "X-Request-Start": "t=0"}
    before = histograms(site.web.port)
    for _ in range(3):
        response = httpx.post(
            f"http://127.0.0.1:{site.web.port}/api/chats/{team.chat.pk}/messages/", json={"text": "x"}, headers=headers
        )
        assert response.status_code == 503
    assert window_figures(before, histograms(site.web.port))["refused_in_web"] == 3
