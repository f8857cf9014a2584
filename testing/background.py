"""Real background processes for tests: an SMTP server (aiosmtpd, in the test process, which
can be made slow or taken down), and Celery workers and Flower (subprocesses) pointed at the
pytest test database and at a Redis key prefix of the test run's own."""

import asyncio
import email
import email.policy
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import redis
from aiosmtpd.controller import Controller
from django.conf import settings
from kombu.transport.redis import Channel

from core.database import database_url

from .processes import GroupProcess, free_port, wait_until
from .redis_keys import keys_deleted

ROOT = Path(__file__).resolve().parents[1]
CELERY = str(Path(sys.executable).with_name("celery"))
QUEUES = ("default", "email", "reports", "bulk", "media")  # every queue (BrokerState counts them)
# The transactional worker's queues; `bulk` (digests, reports) has a worker of its own, as
# under supervisord.
WORKER_QUEUES = ("default", "email", "reports", "media")
BULK_QUEUES = ("bulk",)


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    received_at: float = field(default_factory=time.time)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def body(self, subtype: str = "plain") -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        return part.get_content() if part is not None else ""


class RecordingHandler:
    """aiosmtpd handler that keeps every mail, and can stall the answer to RCPT TO for chosen
    addresses (a slow server in the middle of a send)."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.changed = threading.Condition()
        self.stall: dict[str, float] = {}  # address → seconds to wait, once, before accepting it
        self.stalled: list[str] = []  # addresses whose RCPT is being (or was) stalled
        self.refuse: dict[str, str] = {}  # address → the SMTP answer refusing it ("550 ...")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        delay = self.stall.pop(address, None)
        if delay:
            with self.changed:
                self.stalled.append(address)
                self.changed.notify_all()
            await asyncio.sleep(delay)
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.changed:
            self.mails.append(Mail(mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos), message=message))
            self.changed.notify_all()
        return "250 Message accepted for delivery"


class SmtpServer:
    """A real SMTP server on a fixed free port; `stop()` then `start()` is an outage."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = RecordingHandler()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def reset(self) -> None:
        with self.handler.changed:
            self.handler.mails.clear()
            self.handler.stall.clear()
            self.handler.stalled.clear()
            self.handler.refuse.clear()

    @property
    def mails(self) -> list[Mail]:
        with self.handler.changed:
            return list(self.handler.mails)

    def wait_for(self, predicate: Callable[[list[Mail]], bool], *, timeout: float = 30) -> list[Mail]:
        """Waits until `predicate(mails)` holds; returns the mails."""
        deadline = time.monotonic() + timeout
        with self.handler.changed:
            while not predicate(list(self.handler.mails)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"mails so far: {[m.subject for m in self.handler.mails]}")
                self.handler.changed.wait(left)
            return list(self.handler.mails)

    def wait_stalled(self, address: str, *, timeout: float = 30) -> None:
        with self.handler.changed:
            if not self.handler.changed.wait_for(lambda: address in self.handler.stalled, timeout):
                raise TimeoutError(f"no RCPT TO {address} arrived")


def background_env(*, smtp_port: int, workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of a worker or Flower started by the tests: test settings and database,
    the run's Redis key prefix, the test SMTP server, and short timeouts so that redelivery
    and retries happen within a test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    env.update(
        DJANGO_SETTINGS_MODULE="messenger.settings.test",
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        CELERY_KEY_PREFIX=settings.CELERY_KEY_PREFIX,
        # A killed worker's message comes back after 8 s (the longest test task takes less).
        CELERY_VISIBILITY_TIMEOUT="8",
        CELERY_RESTORE_INTERVAL="1",
        CELERY_RESTORE_THROTTLE="1",
        # A worker killed while giving messages back (it does every second here) holds them
        # back this long, not five minutes.
        CELERY_RESTORE_LOCK_SECONDS="5",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_port),
        EMAIL_USE_TLS="false",
        EMAIL_USE_SSL="false",
        EMAIL_HOST_USER="",
        EMAIL_HOST_PASSWORD="",
        EMAIL_TIMEOUT="5",
        NOTIFICATIONS_RETRY_BACKOFF="1",
        # Longer than the email task's hard limit in the tests (3 + 15 s), so a claim is
        # taken over only from a dead worker, and soon enough for the crash tests.
        NOTIFICATIONS_CLAIM_SECONDS="20",
        NOTIFICATIONS_RETRY_BACKOFF_MAX="2",
        # A digest window of N "minutes" passes in N seconds.
        NOTIFICATIONS_DIGEST_MINUTE_SECONDS="1",
        USER_REPORT_PATH=str(workdir / "reports" / "users.csv"),
        USER_REPORT_EMAIL_STAFF="true",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


class CeleryWorker(GroupProcess):
    """`celery worker` as a subprocess in a session (process group) of its own, so SIGKILL
    reaches the parent and its prefork children at once, as when a machine loses a worker.
    `stop` is a warm shutdown: unfinished messages go back."""

    stop_timeout = 20

    def __init__(
        self, *, env: dict[str, str], log_path: Path, queues: tuple[str, ...] = WORKER_QUEUES, name: str = "test"
    ):
        self.env, self.log_path, self.queues, self.name = env, log_path, queues, name

    def start(self, *, timeout: float = 90) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    CELERY, "-A", "messenger", "worker",
                    "-Q", ",".join(self.queues),
                    "-P", "prefork", "-c", "2", "-E",
                    "-n", f"{self.name}-{os.getpid()}@%h",
                    "-I", "testing.celery_tasks",
                    "--without-gossip", "--without-mingle", "--without-heartbeat",
                    "-l", "INFO",
                ],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited: {self.log_path.read_text()[offset:][-3000:]}")
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return b" ready." in log.read()

        wait_until(ready, timeout=timeout, what="the celery worker", interval=0.2)


def leftovers_ended(prefix: str) -> list[int]:
    """Ends the process groups a killed run left behind: the workers, beat and Flower it
    started with this Redis key prefix (`background_env`). Each runs in a session of its own
    (so a test can SIGKILL a worker with its children), which also outlives a pytest that was
    killed; the next run of the same name reuses the prefix, and a leftover worker took its
    tasks from the queues. Returns the groups ended."""
    if not prefix:  # `make run`'s processes have none: never theirs
        return []
    marker = f"CELERY_KEY_PREFIX={prefix}".encode()
    ended: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            group = os.getpgid(int(entry.name))
            if group in ended or group == os.getpgid(0) or _started_by_this_process(int(entry.name)):
                continue
            os.killpg(group, signal.SIGKILL)
        except OSError:  # gone meanwhile, or not ours to read
            continue
        ended.append(group)
    return ended


def _started_by_this_process(pid: int) -> bool:
    while pid > 1:
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat[stat.rindex(")") + 2 :].split()[1])  # the parent's
        if pid == os.getpid():
            return True
    return False


class BrokerState:
    """The test run's own keys on the shared Redis (every key starts with its prefix)."""

    def __init__(self) -> None:
        self.prefix = settings.CELERY_KEY_PREFIX
        self.client = redis.Redis.from_url(settings.REDIS_URL)

    def purge(self) -> None:
        keys_deleted(f"{self.prefix}*", client=self.client)

    def waiting(self, queues: tuple[str, ...] = QUEUES) -> int:
        """Messages waiting in these queues, in one round trip. Each queue's lists are named
        as kombu's Redis transport names them (one per priority step), not found with SCAN:
        that walks the whole shared Redis, and on a machine whose Redis holds a hundred
        thousand keys (the bench's) each call took seconds, many times in a test's teardown."""
        pipe = self.client.pipeline(transaction=False)
        for queue in queues:
            for step in Channel.priority_steps:
                pipe.llen(f"{self.prefix}{queue}{Channel.sep}{step}" if step else f"{self.prefix}{queue}")
        return sum(pipe.execute())

    def busy(self) -> int:
        """Messages waiting in a queue or reserved by a worker (including retries waiting for
        their countdown)."""
        return self.waiting() + self.client.hlen(f"{self.prefix}unacked")

    def wait_idle(self, *, timeout: float = 60) -> None:
        wait_until(lambda: self.busy() == 0, timeout=timeout, what="the queues to drain", interval=0.1)

    def restore_lock_taken(self, worker: "CeleryWorker") -> None:
        """As if `worker` had been killed while giving unacknowledged messages back: kombu's
        restore lock (`unacked_mutex`) held for as long as that worker sets it to last."""
        seconds = int(worker.env.get("CELERY_RESTORE_LOCK_SECONDS", Channel.unacked_mutex_expire))
        self.client.set(f"{self.prefix}{Channel.unacked_mutex_key}", "killed-worker", ex=seconds)
