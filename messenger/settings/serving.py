"""How the site is served: nginx in front, gunicorn (WSGI) and uvicorn (ASGI) behind it,
every process under supervisord. `manage.py serving_config` renders nginx's and
supervisord's configs from these values (ops/serving.py)."""

import os

from .env import env

# nginx: the only port a browser talks to (SITE_URL's port). The others listen on loopback
# and only nginx (or a test) calls them.
WEB_PORT = env.int("WEB_PORT", default=8800)
# gunicorn: the page, /api/, /admin/, /healthz, /readyz.
WSGI_PORT = env.int("WSGI_PORT", default=8802)
# uvicorn: /api/updates/ (long polling and SSE), async views that wait on one listener.
ASGI_PORT = env.int("ASGI_PORT", default=8803)
# One gunicorn process per core (more only add context switches), each with a few threads
# that overlap their waits on PostgreSQL; each thread has a pooled connection
# (ops.serving.wsgi_command; bench/api_throughput.py compares the alternatives).
WSGI_WORKERS = env.int("WSGI_WORKERS", default=os.cpu_count() or 2)
WSGI_THREADS = env.int("WSGI_THREADS", default=4)
# Overload is answered, not queued: nginx lets this many requests be in gunicorn at once
# (running, or queued for a thread) and answers the next with 503 + Retry-After at once.
# The queue bounds the wait: at ~2 ms a request and 2 processes, 32 in flight wait ~32 ms.
WSGI_MAX_IN_FLIGHT = env.int("WSGI_MAX_IN_FLIGHT", default=16 * WSGI_WORKERS)
# Long polls and SSE streams each hold a connection while they wait; the cap protects the
# one uvicorn process and nginx's own connection table.
ASGI_MAX_CONNECTIONS = env.int("ASGI_MAX_CONNECTIONS", default=10_000)
# A request that waited longer than this for a gunicorn thread (nginx stamps when it hands
# it on) is answered 503 at once instead (core.middleware.QueueTimeLimitMiddleware): the
# accepted requests' wait stays bounded, and a refused one is told within the target of
# 100 ms. Well under what a person notices; tests on a busy shared machine raise it.
REQUEST_QUEUE_TIMEOUT_MS = env.int("REQUEST_QUEUE_TIMEOUT_MS", default=75)
# What a refused client is told to wait before retrying, in seconds.
OVERLOAD_RETRY_AFTER_SECONDS = env.int("OVERLOAD_RETRY_AFTER_SECONDS", default=1)

# Bodies above this size are refused with 413 before anything parses them.
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=256 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
