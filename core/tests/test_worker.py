"""core.worker: what each granian worker sets up (the watchdog, the environ it hands on).
The watchdog ending a real worker is tested through the site (tests/system/test_serving.py)."""

import os
import threading

from core.worker import Watchdog, process_environment_dropped


def test_the_watchdog_calls_out_only_a_request_past_the_limit():
    ended = threading.Event()
    release = threading.Event()
    watchdog = Watchdog(0.3, interval=0.05, on_stuck=ended.set)

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/stuck":
            release.wait(10)
        return [b""]

    watched = watchdog.wrap(app)
    watched({"PATH_INFO": "/quick"}, None)
    assert watchdog.stuck() == []  # a finished request is forgotten
    stuck = threading.Thread(target=watched, args=({"PATH_INFO": "/stuck"}, None))
    stuck.start()
    watchdog.start()
    try:
        assert not ended.wait(0.15)  # within the limit
        assert ended.wait(5)
        assert watchdog.stuck() == [stuck.ident]
    finally:
        release.set()
        stuck.join()
    assert watchdog.stuck() == []


def test_a_request_environ_loses_the_process_environment(monkeypatch):
    monkeypatch.setenv("DJANGO_SECRET_KEY", "not-for-requests")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        return [b""]

    served = process_environment_dropped(app)
    # granian's environ: a copy of os.environ, then the request's own keys over it.
    environ = dict(os.environ) | {"PATH_INFO": "/api/me/", "HTTP_AUTHORIZATION": "Token x", "wsgi.version": (1, 0)}
    served(environ, None)
    assert "DJANGO_SECRET_KEY" not in seen and "HTTP_PROXY" not in seen
    assert not set(os.environ) & set(seen)
    assert seen["PATH_INFO"] == "/api/me/" and seen["HTTP_AUTHORIZATION"] == "Token x"
