"""Faults injected under load: one part of the stack is killed or stopped while messages are
posted and members added through nginx, then brought back; at the end every accepted
message reached the reader on every transport exactly once, and every email owed was
received once (testing.faults). The counts of each fault go to .state/results/faults.json
(FAULTS_RESULTS: another path; `make test-faults` refreshes bench/results/faults.json).

Every server here is the test's own (PostgreSQL cluster, Redis, SMTP): stopping one touches
nothing shared. `make test-faults` runs them alone.
"""

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings

from testing.faults import TRANSPORTS, FaultStack, LoadRun, process_kill_tree, world_create

# One worker of the parallel run takes the faults in turn: each loads the machine, and they
# write one results file.
pytestmark = [pytest.mark.slow, pytest.mark.faults, pytest.mark.xdist_group("faults")]

# Under the ignored state folder, so that `make test` leaves the tree clean.
RESULTS = Path(os.environ.get("FAULTS_RESULTS") or Path(settings.STATE_DIR) / "results" / "faults.json")
_results_lock = threading.Lock()


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[FaultStack]:
    stack = FaultStack(tmp_path_factory.mktemp("faults")).start()
    yield stack
    stack.stop()


def _record(name: str, counts: dict[str, Any]) -> None:
    with _results_lock:
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results[name] = counts | {"recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def _run_with_fault(
    stack: FaultStack,
    name: str,
    fault: Callable[[LoadRun], dict[str, Any] | None],
    *,
    seconds: float = 14,
    adds_per_second: float = 1,
) -> dict[str, Any]:
    """Load for `seconds`, the fault 3 s in (the fault's own function takes as long as the
    outage lasts; the load goes on meanwhile), then the counts, recorded and checked."""
    world = world_create(stack.site.url, adds=int(seconds * adds_per_second) + 2, smtp=stack.smtp)
    stack.smtp.reset()
    run = LoadRun(stack, world, seconds=seconds, adds_per_second=adds_per_second).start()
    time.sleep(3)
    started = time.monotonic()
    facts = fault(run) or {}
    facts["outage_seconds"] = round(time.monotonic() - started, 1)
    facts["restarted_by_supervisor"] = stack.supervise()
    counts = run.finish(timeout=60) | {"fault": facts}
    _record(name, counts)
    for transport in TRANSPORTS:
        tally = counts["transports"][transport]
        assert tally["accepted"] > 0, counts
        assert (tally["lost"], tally["duplicated"]) == (0, 0), (transport, counts)
    emails = counts["emails"]
    assert emails["expected"] > 0 and (emails["lost"], emails["duplicated"]) == (0, 0), counts
    return counts


def _down_for(
    seconds: float, stop: Callable[[], object], start: Callable[[], object]
) -> Callable[[LoadRun], dict[str, Any]]:
    """The fault: `stop`, `seconds` of outage, `start`."""

    def fault(run: LoadRun) -> dict[str, Any]:
        stop()
        time.sleep(seconds)
        start()
        return {"down_seconds": seconds}

    return fault


def _centrifugo_killed(stack: FaultStack, engine: str) -> dict[str, Any]:
    """Centrifugo (`engine`) SIGKILLed under load and started again 10 s later: the counts."""

    def kill() -> None:
        stack.centrifugo.process.send_signal(signal.SIGKILL)
        stack.centrifugo.process.wait()

    fault = _down_for(10, kill, lambda: stack.centrifugo.start())
    return _run_with_fault(stack, f"centrifugo_sigkill_{engine}_engine", fault, seconds=18)


def test_centrifugo_killed_with_the_redis_engine_recovers_from_history(stack):
    counts = _centrifugo_killed(stack, "redis")
    websocket = counts["transports"]["websocket"]
    assert websocket["reconnects"] >= 1
    # History survived in Redis: the client resubscribed with everything it missed.
    assert websocket["gaps_told"] == 0 and websocket["delivered_via_rest"] == 0, websocket


def test_centrifugo_killed_with_the_memory_engine_the_client_catches_up_over_rest(stack):
    stack.centrifugo_start(engine="memory")
    try:
        counts = _centrifugo_killed(stack, "memory")
    finally:
        stack.centrifugo_start(engine="redis")
    websocket = counts["transports"]["websocket"]
    # The memory engine lost its history: the client is told (not recovered) and reloads.
    assert websocket["gaps_told"] >= 1 and websocket["delivered_via_rest"] > 0, websocket


def test_redis_restarted(stack):
    _run_with_fault(stack, "redis_restart", _down_for(5, stack.redis.stop, stack.redis.start))


def test_celery_worker_killed_mid_task_and_beat_restarted(stack):
    def fault(run: LoadRun) -> dict[str, Any]:
        # The next email to the admin stalls at RCPT TO: the worker is killed in the middle
        # of that task, with the message reserved and unacknowledged.
        stack.smtp.handler.stall[run.world.admin.email] = 30
        stack.smtp.wait_stalled(run.world.admin.email, timeout=20)
        stack.worker.kill()
        stack.beat.kill()
        time.sleep(2)
        stack.beat.start()
        stack.worker.start()
        return {"killed": ["worker (SIGKILL to its process group, mid-SMTP)", "beat (SIGKILL)"]}

    counts = _run_with_fault(stack, "celery_worker_sigkill_and_beat_restart", fault, seconds=16)
    assert stack.beat.alive and stack.worker.alive, counts


def test_smtp_server_down(stack):
    _run_with_fault(stack, "smtp_down", _down_for(20, stack.smtp.stop, stack.smtp.start), seconds=24)


def test_postgresql_restarted_the_api_answers_503_json_at_once_and_recovers(stack):
    probes: list[dict[str, Any]] = []

    def probe(run: LoadRun, stop: threading.Event) -> None:
        with httpx.Client(base_url=stack.site.url, timeout=10) as http:
            while not stop.is_set():
                # The chat list reads the database whatever is cached (an API token's user is,
                # accounts.token_cache: /api/me/ may be answered without PostgreSQL).
                for path, headers in (("/api/chats/", run.world.owner.headers), ("/healthz", {})):
                    started = time.monotonic()
                    try:
                        response = http.get(path, headers=headers)
                        kind = response.headers.get("content-type", "")
                        body = response.json() if kind.startswith("application/json") else None
                        status = response.status_code
                    except httpx.HTTPError as exc:
                        status, kind, body = type(exc).__name__, "", None
                    probes.append({"path": path, "status": status, "seconds": time.monotonic() - started, "json": body})
                time.sleep(0.3)

    def fault(run: LoadRun) -> dict[str, Any]:
        stop = threading.Event()
        stack.postgres.stop()
        prober = threading.Thread(target=probe, args=(run, stop), daemon=True)
        prober.start()
        time.sleep(8)
        stop.set()
        prober.join(15)
        stack.postgres.start()
        api = [p for p in probes if p["path"] == "/api/chats/"]
        health = [p for p in probes if p["path"] == "/healthz"]
        return {
            "down_seconds": 8,
            "api_probes": len(api),
            "api_statuses": sorted({str(p["status"]) for p in api}),
            "api_503_max_seconds": round(max((p["seconds"] for p in api), default=0), 3),
            "healthz_statuses": sorted({str(p["status"]) for p in health}),
        }

    counts = _run_with_fault(stack, "postgresql_restart", fault, seconds=16)
    api = [p for p in probes if p["path"] == "/api/chats/"]
    assert api, counts
    for answer in api:
        assert answer["status"] == 503 and set(answer["json"]) == {"message", "extra"}, answer
        assert answer["seconds"] < 1.5, answer
    assert {p["status"] for p in probes if p["path"] == "/healthz"} == {200}, counts


def test_web_process_killed(stack):
    def fault(run: LoadRun) -> dict[str, Any]:
        process_kill_tree(stack.site.web.process.pid)
        stack.site.web.process.wait()
        stack.web_restart()
        return {"killed": "granian server and workers (SIGKILL), started again"}

    _run_with_fault(stack, "web_sigkill", fault)


def test_feed_process_killed_while_long_poll_and_sse_clients_wait(stack):
    def fault(run: LoadRun) -> dict[str, Any]:
        process_kill_tree(stack.site.feed.process.pid)
        stack.site.feed.process.wait()
        time.sleep(1)
        stack.feed_restart()
        return {"killed": "uvicorn (SIGKILL), started again"}

    counts = _run_with_fault(stack, "feed_uvicorn_sigkill", fault)
    # Both resumed from their cursor: a new stream (Last-Event-ID) and a new poll.
    assert counts["transports"]["sse"]["reconnects"] >= 1, counts
    assert counts["errors_seen"].get("longpoll"), counts


def test_nginx_reloaded(stack):
    def fault(run: LoadRun) -> dict[str, Any]:
        for _ in range(2):
            os.kill(stack.site.nginx.process.pid, signal.SIGHUP)
            time.sleep(2)
        return {"reloads": 2}

    _run_with_fault(stack, "nginx_reload", fault)
