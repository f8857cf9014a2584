"""core.worker: what each granian worker sets up (the watchdog, the environ it hands on, the
refusal of what waited too long for a thread).
The watchdog ending a real worker is tested through the site (tests/system/test_serving.py)."""

import json
import os
import threading
import time

from core.metrics import REFUSALS
from core.worker import Watchdog, process_environment_dropped, queue_time_limited


def test_the_watchdog_calls_out_only_a_request_past_the_limit():
    ended = threading.Event()
    release = threading.Event()
    watchdog = Watchdog(0.3, interval=0.05, end_worker=ended.set)

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


def test_the_watchdog_ends_a_worker_whose_server_is_gone():
    ended = threading.Event()
    watchdog = Watchdog(30, interval=0.05, end_worker=ended.set).start()
    assert not ended.wait(0.2)  # this process's parent is still there
    watchdog.server = os.getppid() + 1  # as if the parent had died and another adopted us
    assert ended.wait(5)


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


def _served(application, environ):
    answer = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = status, dict(headers)

    body = b"".join(application(environ, start_response))
    return answer["status"], answer["headers"], body


def _refusals(route):
    (metric,) = REFUSALS.collect()
    labels = {"route": route, "status": "503"}
    return next((s.value for s in metric.samples if s.name.endswith("_total") and s.labels == labels), 0)


def _stamped(path, waited_ms):
    return {
        "PATH_INFO": path,
        "REQUEST_METHOD": "GET",
        "HTTP_X_REQUEST_START": f"t={time.time() - waited_ms / 1000:.3f}",
    }


def test_a_request_that_waited_past_the_bound_is_answered_before_the_application(settings):
    """The bound's refusal comes from the worker, not from Django: the application behind it
    is not called, the answer is the overload one (JSON, Retry-After), and it is counted."""
    settings.REQUEST_QUEUE_TIMEOUT_MS = 200
    settings.REQUEST_QUEUE_PATIENT_TIMEOUT_MS = 2_000
    served = []

    def app(environ, start_response):
        served.append(environ["PATH_INFO"])
        start_response("200 OK", [])
        return [b"ok"]

    limited = queue_time_limited(app)
    before = _refusals("api/me/")

    status, headers, body = _served(limited, _stamped("/api/me/", 1_000))
    assert status == "503 Service Unavailable" and served == []
    assert headers["Retry-After"] == "1" and headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) == len(body)
    assert json.loads(body) == {"message": "The server is busy or restarting: retry in a moment.", "extra": {}}
    assert _refusals("api/me/") == before + 1

    assert _served(limited, _stamped("/api/me/", 50))[0] == "200 OK"  # within the bound
    assert _served(limited, _stamped("/api/realtime/token/", 1_000))[0] == "200 OK"  # a patient path
    assert _served(limited, _stamped("/api/me/", -5_000))[0] == "200 OK"  # a stamp from the future
    assert _served(limited, {"PATH_INFO": "/metrics", "HTTP_X_REQUEST_START": "t=soon"})[0] == "200 OK"
    assert _served(limited, {"PATH_INFO": "/api/me/"})[0] == "200 OK"  # not through nginx
    assert served == ["/api/me/", "/api/realtime/token/", "/api/me/", "/metrics", "/api/me/"]


def test_the_bound_at_zero_leaves_the_application_as_it_is(settings):
    settings.REQUEST_QUEUE_TIMEOUT_MS = 0

    def app(environ, start_response):
        return [b""]

    assert queue_time_limited(app) is app
