"""Celery (worker, beat, Flower) and the background jobs' own settings.

Read by messenger/celery.py through the CELERY_ namespace. Redis is both the broker and the
result store. The choices below are deliberate; the comments say why.
"""

from datetime import timedelta
from pathlib import Path

from kombu import Queue

from .env import REDIS_URL, STATE_DIR, TIME_ZONE, env

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL
# kombu's Redis transport, with a fault of kombu and Celery 5.7 on a lost connection worked
# around (messenger/broker.py).
CELERY_BROKER_TRANSPORT = "messenger.broker:Transport"
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or REDIS_URL
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"

# Queues: one per kind of work, so a flood of one kind never delays another, and each can
# get its own workers. Tasks are routed by name, the first matching pattern wins.
# `email` is transactional mail (member added, summaries, verification): one person waits
# for it. `bulk` is mail sent to many at once and the reports (digests: thousands within
# minutes after a busy hour); it has a worker of its own (deploy/supervisor, celery-bulk),
# so a digest storm never delays a transactional email. `reports` is kept for messages
# already queued under it before an upgrade; nothing is routed there any more. Thumbnails
# have a queue of their own (`media`, the brief's `(video|image).tasks.*`): a burst of
# uploads never delays email, and image work can get workers of its own. The revocations of
# API tokens that Redis missed are told again on `default`: they never wait behind mail.
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = (Queue("default"), Queue("email"), Queue("bulk"), Queue("reports"), Queue("media"))
CELERY_TASK_ROUTES = {
    "notifications.digest_*": {"queue": "bulk"},
    "notifications.*": {"queue": "email"},
    "accounts.token_revocations_publish": {"queue": "default"},
    "accounts.*": {"queue": "email"},
    "reports.*": {"queue": "bulk"},
    "attachments.*": {"queue": "media"},
}

# Every task is short and idempotent (it checks a record before acting), so a message is
# acknowledged only after its task finished (acks_late), and put back in the queue when the
# process running it died (reject_on_worker_lost): a killed worker loses no work, and the
# task's own record stops the rerun from acting twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A process reserves one message at a time: with late acks, a prefetched message would sit
# unacknowledged behind a slow task instead of going to an idle worker.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task still running when the broker connection drops is cancelled: the broker will hand
# its message out again, and two copies must not run at once.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True

# Redis has no acknowledgements: a reserved message waits in an "unacked" table and goes back
# to its queue after the visibility timeout. It must be longer than the longest task (hard
# limits below: minutes) and than the longest retry countdown (NOTIFICATIONS_RETRY_BACKOFF_MAX),
# or a slow task or a waiting retry would be handed out twice. A killed worker's messages come
# back after this delay. The global key prefix lets test runs and benchmarks use queues of their
# own on the same Redis.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
CELERY_KEY_PREFIX = env.str("CELERY_KEY_PREFIX", default="")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "global_keyprefix": CELERY_KEY_PREFIX,
    # How often a worker looks for messages of dead workers (every interval * throttle seconds).
    "unacked_restore_interval": env.int("CELERY_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": env.int("CELERY_RESTORE_THROTTLE", default=6),
    # A worker holds a lock in Redis while it gives those messages back; one killed (SIGKILL, the
    # OOM killer) while holding it stops every restore until the lock expires (kombu's 300 s).
    "unacked_mutex_expire": env.int("CELERY_RESTORE_LOCK_SECONDS", default=300),
}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": CELERY_KEY_PREFIX}
# Results are read within seconds (tests, Flower) or never; Redis should not keep them.
CELERY_RESULT_EXPIRES = timedelta(hours=6)
# A Redis blip while sending a task: retry the publish a few times before failing.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 5, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Time limits for every task, tighter ones per task where it matters. The soft limit raises
# SoftTimeLimitExceeded in the task so it can clean up; the hard limit kills the process.
# Both need the prefork pool (a child process per task slot).
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_WORKER_POOL = "prefork"
CELERY_WORKER_MAX_TASKS_PER_CHILD = 1000

# Task events for Flower (the worker also gets -E, see deploy/supervisor/).
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_TASK_TRACK_STARTED = True

# celery beat reads its schedule from the database: editable in the Django admin (interval,
# crontab, solar and clocked schedules). Run exactly one beat process.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# Email to chat admins: retries with exponential backoff (base, doubling, capped), with jitter.
NOTIFICATIONS_RETRY_BACKOFF = env.int("NOTIFICATIONS_RETRY_BACKOFF", default=5)
NOTIFICATIONS_RETRY_BACKOFF_MAX = env.int("NOTIFICATIONS_RETRY_BACKOFF_MAX", default=600)
NOTIFICATIONS_MAX_RETRIES = env.int("NOTIFICATIONS_MAX_RETRIES", default=12)
# An email still unsent this long after its member was added gets a new task (the broker was
# down at commit, or the retries ran out); see notifications.services.pending_emails_resend.
NOTIFICATIONS_RESEND_PENDING_AFTER_SECONDS = env.int("NOTIFICATIONS_RESEND_PENDING_AFTER_SECONDS", default=300)
# An email whose retries ran out (hours of SMTP outage) gets a new chain of retries this
# long after its last try, from the same sweep; the admin lists it until then.
NOTIFICATIONS_RESEND_EXHAUSTED_AFTER_SECONDS = env.int("NOTIFICATIONS_RESEND_EXHAUSTED_AFTER_SECONDS", default=3600)
# One email is one short SMTP conversation; past this the task cleans up and retries.
NOTIFICATIONS_EMAIL_SOFT_TIME_LIMIT = env.int("NOTIFICATIONS_EMAIL_SOFT_TIME_LIMIT", default=30)

# The periodic user report: the file its lines are appended to, and whether staff get it by email.
USER_REPORT_PATH = Path(env.str("USER_REPORT_PATH", default="") or STATE_DIR / "reports" / "users.csv")
USER_REPORT_EMAIL_STAFF = env.bool("USER_REPORT_EMAIL_STAFF", default=False)

# The missed-message digest: a member's window (minutes) unless they chose another, how many
# seconds a "minute" is (60; the tests make it 1 so that a window passes within a test), how
# often the sweep runs (the beat schedule, notifications/migrations), and how long a due
# digest's task may be missing before the sweep sends another.
NOTIFICATIONS_DIGEST_WINDOW_MINUTES = env.int("NOTIFICATIONS_DIGEST_WINDOW_MINUTES", default=5)
NOTIFICATIONS_DIGEST_MINUTE_SECONDS = env.float("NOTIFICATIONS_DIGEST_MINUTE_SECONDS", default=60.0)
NOTIFICATIONS_DIGEST_REDISPATCH_SECONDS = env.int("NOTIFICATIONS_DIGEST_REDISPATCH_SECONDS", default=120)
# Messages read per sweep (a backlog after beat was down is worked off over several sweeps),
# and shown per chat in one email (the rest are counted).
NOTIFICATIONS_DIGEST_SCAN_BATCH = env.int("NOTIFICATIONS_DIGEST_SCAN_BATCH", default=5000)
NOTIFICATIONS_DIGEST_MESSAGES_PER_CHAT = 20
