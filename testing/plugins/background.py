"""pytest fixtures for background work (loaded by the root conftest's `pytest_plugins`): a real
SMTP server, a real Celery worker on every queue, Flower. Tests that use them need committed
data (`transactional_db`): the worker is another process."""

import contextlib
from collections.abc import Iterator

import pytest

from testing.background import BULK_QUEUES, BrokerState, CeleryWorker, SmtpServer, background_env, leftovers_ended
from testing.processes import free_port, process_stop

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(smtp_server: SmtpServer, settings) -> Iterator[SmtpServer]:
    """The SMTP server, emptied, up and fast. Django's test runner swaps in the in-memory email
    backend; here mail sent by the test process itself goes over SMTP too."""
    smtp_server.reset()
    smtp_server.stop()  # a test may have left it down
    smtp_server.start()
    settings.EMAIL_BACKEND = SMTP_BACKEND
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield smtp_server
    smtp_server.reset()


# The session's broker and workers once a test has started them (the teardown hook below).
_session: dict[str, BrokerState] = {}
_workers: list[CeleryWorker] = []


@pytest.fixture(scope="session")
def broker() -> Iterator[BrokerState]:
    """The run's queues on Redis, emptied at the start (a killed run may have left messages,
    and workers: they are ended first) and at the end."""
    state = BrokerState()
    leftovers_ended(state.prefix)
    state.purge()
    _session["broker"] = state
    yield state
    _session.clear()
    state.purge()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Before any test's fixtures are torn down (its database flushed), the tasks it queued
    finish on the session's worker if one runs, whether or not the test asked for `worker`:
    a task still in its transaction while the flush truncates every table can deadlock with
    it (seen: the member-added email's rate check of a test that only made a team)."""
    state = _session.get("broker")
    if state is not None and any(process.alive for process in _workers):
        with contextlib.suppress(TimeoutError):  # a task left retrying on purpose: flush anyway
            state.wait_idle(timeout=30)
    yield


@pytest.fixture(scope="session")
def background_workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("background")


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup, django_db_blocker, smtp_server, broker, background_workdir
) -> Iterator[CeleryWorker]:
    """One worker on the default, email and reports queues for the whole session, against the
    test database. A test that kills it starts it again (`.kill()`, `.start()`)."""
    worker = CeleryWorker(
        env=background_env(smtp_port=smtp_server.port, workdir=background_workdir),
        log_path=background_workdir / "worker.log",
    )
    worker.start()
    _workers.append(worker)
    yield worker
    _workers.remove(worker)
    worker.stop()


@pytest.fixture(scope="session")
def celery_bulk_worker_process(
    django_db_setup, django_db_blocker, smtp_server, broker, background_workdir
) -> Iterator[CeleryWorker]:
    """The worker of the bulk queue (digests, reports), a process of its own as in `make run`."""
    worker = CeleryWorker(
        env=background_env(smtp_port=smtp_server.port, workdir=background_workdir),
        log_path=background_workdir / "worker-bulk.log",
        queues=BULK_QUEUES,
        name="bulk",
    )
    worker.start()
    _workers.append(worker)
    yield worker
    _workers.remove(worker)
    worker.stop()


@pytest.fixture
def worker(
    celery_worker_process: CeleryWorker, celery_bulk_worker_process: CeleryWorker, broker: BrokerState, mailbox
) -> Iterator[CeleryWorker]:
    """The session's worker, alive, with no message in flight before and after the test (so a
    test's tasks never run into the next test's database flush). The bulk queue's worker is
    running too (`bulk_worker`)."""
    for process in (celery_worker_process, celery_bulk_worker_process):
        if not process.alive:
            process.start()
    broker.wait_idle()
    yield celery_worker_process
    broker.wait_idle()


@pytest.fixture
def bulk_worker(worker, celery_bulk_worker_process: CeleryWorker) -> CeleryWorker:
    """The bulk queue's worker (alive: `worker` saw to it)."""
    return celery_bulk_worker_process


@pytest.fixture(scope="session")
def flower_url(django_db_setup, smtp_server, broker, background_workdir) -> Iterator[str]:
    """Flower on a free port with basic authentication flower:flower-test-password."""
    import subprocess

    from testing.background import CELERY, ROOT, wait_until

    port = free_port()
    env = background_env(
        smtp_port=smtp_server.port, workdir=background_workdir, FLOWER_BASIC_AUTH="flower:flower-test-password"
    )
    with (background_workdir / "flower.log").open("ab") as log:
        proc = subprocess.Popen(
            [CELERY, "-A", "messenger", "flower", "--address=127.0.0.1", f"--port={port}"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def listening() -> bool:
        import socket

        if proc.poll() is not None:
            raise RuntimeError((background_workdir / "flower.log").read_text()[-3000:])
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_until(listening, timeout=60, what="Flower", interval=0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process_stop(proc)
