"""How the site is served: nginx in front, granian (WSGI) and uvicorn (ASGI) behind it,
every process under supervisord. `manage.py serving_config` renders nginx's and
supervisord's configs from these values (ops/serving.py)."""

import os

from .env import env

# nginx: the only port a browser talks to (SITE_URL's port). The others listen on loopback
# and only nginx (or a test) calls them.
WEB_PORT = env.int("WEB_PORT", default=8800)
# granian (WSGI): the page, /api/, /admin/, /healthz, /readyz.
WSGI_PORT = env.int("WSGI_PORT", default=8802)
# uvicorn: /api/updates/ (long polling and SSE), async views that wait on one listener.
ASGI_PORT = env.int("ASGI_PORT", default=8803)
# One granian worker process per core (more only add context switches), each with a few
# threads that overlap their waits on PostgreSQL; each thread has a pooled connection
# (ops.serving.wsgi_command; `python -m bench api-throughput` compares the alternatives).
# A core is one this process may run on, as Go counts them for Centrifugo (ops.centrifugo):
# os.cpu_count() would count a machine's cores outside an affinity mask (taskset, cpusets).
WSGI_WORKERS = env.int("WSGI_WORKERS", default=len(os.sched_getaffinity(0)))
# Twelve rather than six: more messages meet in group commit's transactions (about 7 instead
# of 3.3 at 32 connections) for less CPU per message under load (docs/performance.md,
# "Seventeenth pass").
WSGI_THREADS = env.int("WSGI_THREADS", default=12)
# Each worker's threads on one CPU of their own (core.worker.cpu_pinned): a request's many
# hand-overs between them stay within a core. About a tenth more POSTs a second for a tenth
# less CPU each, two workers on two cores; at full load a longer tail (docs/performance.md,
# "Twentieth pass"). Off where the workers share their CPUs with work that comes in bursts.
WSGI_PIN_WORKERS = env.bool("WSGI_PIN_WORKERS", default=True)
# A request running longer than this ends its worker process, which granian starts again
# (core.worker.Watchdog): nothing should take so long. Below nginx's read timeout (60 s), so
# the stuck request's client is told 503 by nginx as the worker ends.
WSGI_REQUEST_TIMEOUT_SECONDS = env.int("WSGI_REQUEST_TIMEOUT_SECONDS", default=30)
# Overload is answered, not queued: nginx lets this many requests be in granian at once
# (running, or queued for a thread) and answers the next with 503 + Retry-After at once.
# The queue bounds the wait: at ~2 ms a request and 2 processes, 32 in flight wait ~32 ms.
# It is the site's gate, not one client's: a burst of a few hundred honest clients (each
# opening the page and asking for a token at once) is let in, and each address has its own
# smaller share (CLIENT_MAX_IN_FLIGHT), so no one client fills it.
WSGI_MAX_IN_FLIGHT = env.int("WSGI_MAX_IN_FLIGHT", default=512)
# Long polls and SSE streams each hold a connection while they wait; the cap protects the
# one uvicorn process and nginx's own connection table.
ASGI_MAX_CONNECTIONS = env.int("ASGI_MAX_CONNECTIONS", default=10_000)
# A request that waited longer than this for a WSGI thread (nginx stamps when it hands it
# on) is answered 503 at once instead (core.worker.queue_time_limited): the
# accepted requests' wait stays bounded, and a refused one is told within the target of
# 100 ms. A refusal's latency is this wait plus the time a thread takes to come free and the
# answer's way back, so the limit is half the target: at 75 ms, a tenth of the refusals under
# twice the sustainable load took over 94 ms, and one in a hundred 111-119 ms
# (docs/performance.md, "Eleventh pass"). Tests on a busy shared machine raise it.
REQUEST_QUEUE_TIMEOUT_MS = env.int("REQUEST_QUEUE_TIMEOUT_MS", default=50)
# Cheap idempotent reads that a burst of honest clients asks for at once (the page's
# connection and subscription tokens, before each WebSocket) wait this long instead: nginx
# already paces them (TOKEN_ISSUE_RATE), so their queue is short unless the machine is slower
# than the pace, and a client told 503 would only ask again. Overload of anything else is
# still refused at REQUEST_QUEUE_TIMEOUT_MS.
REQUEST_QUEUE_PATIENT_PATHS = ("/api/realtime/token/", "/api/realtime/subscription-token/")
REQUEST_QUEUE_PATIENT_TIMEOUT_MS = env.int("REQUEST_QUEUE_PATIENT_TIMEOUT_MS", default=2_000)
# nginx hands those token requests to granian at this rate for the whole site (below what
# the site issues: bench scenario 5 measured ~730/s on a quiet machine), queueing the excess
# in nginx itself (cheap: no thread, no upstream connection) up to TOKEN_ISSUE_QUEUE, about
# five seconds of it; past that, 503 + Retry-After. So a burst of connects waits a little
# and is served, and the API's other requests keep their place in granian's queue.
TOKEN_ISSUE_RATE = env.int("TOKEN_ISSUE_RATE", default=400)
TOKEN_ISSUE_QUEUE = env.int("TOKEN_ISSUE_QUEUE", default=2_000)
# What a refused client is told to wait before retrying, in seconds.
OVERLOAD_RETRY_AFTER_SECONDS = env.int("OVERLOAD_RETRY_AFTER_SECONDS", default=1)

# Bodies above this size are refused with 413 before anything parses them.
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=256 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

# Admission per client address, in nginx (deploy/nginx/nginx.conf.template): one address past
# its share is refused (429 for a rate, 503 for requests in flight; Retry-After and the JSON
# body) while everyone else is served. Generous per address, since an office or a mobile
# carrier puts many people behind one; the app's throttles count per account.
# Requests of one address in the WSGI server at once.
CLIENT_MAX_IN_FLIGHT = env.int("CLIENT_MAX_IN_FLIGHT", default=64)
# Requests per second of one address to the API and pages, and the burst above that rate.
CLIENT_REQUEST_RATE = env.int("CLIENT_REQUEST_RATE", default=50)
CLIENT_REQUEST_BURST = env.int("CLIENT_REQUEST_BURST", default=500)
# Long polls and SSE streams open at once, and WebSockets, of one address.
CLIENT_MAX_STREAMS = env.int("CLIENT_MAX_STREAMS", default=1_000)
CLIENT_MAX_WEBSOCKETS = env.int("CLIENT_MAX_WEBSOCKETS", default=2_000)
# Feed requests and WebSocket connects per second of one address, and the burst above it.
CLIENT_CONNECT_RATE = env.int("CLIENT_CONNECT_RATE", default=50)
CLIENT_CONNECT_BURST = env.int("CLIENT_CONNECT_BURST", default=1_000)
# Seconds without a byte while nginx reads a request's headers or body, then it is closed:
# a slow sender cannot keep an admission slot.
CLIENT_SEND_TIMEOUT_SECONDS = env.int("CLIENT_SEND_TIMEOUT_SECONDS", default=5)
# Addresses or networks that no per-client limit counts (a load generator on this machine).
ADMISSION_EXEMPT_ADDRESSES = env.list("ADMISSION_EXEMPT_ADDRESSES", default=[])
# A TLS load balancer in front of nginx: from these addresses only, nginx takes the client's
# address from X-Forwarded-For (per-client limits, throttles) and the scheme from
# X-Forwarded-Proto (so production's HTTPS redirect does not loop). Empty: both are ignored.
TRUSTED_PROXY_ADDRESSES = env.list("TRUSTED_PROXY_ADDRESSES", default=[])
# WebSockets the single node holds: nginx's workers are sized for them (two descriptors
# each), Centrifugo's connection limit is its descriptor limit.
EDGE_MAX_WEBSOCKETS = env.int("EDGE_MAX_WEBSOCKETS", default=20_000)
