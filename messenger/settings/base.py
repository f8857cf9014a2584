"""Settings shared by every environment. Every value comes from the environment or `.env`
(read once, in `env.py`); the per-concern modules are star-imported at the end."""

from urllib.parse import quote, urlsplit

from .env import BASE_DIR, REDIS_URL, STATE_DIR, TIME_ZONE, env  # noqa: F401 (settings Django reads)

SECRET_KEY = env.str("DJANGO_SECRET_KEY")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8800").rstrip("/")


def _site_origins(url: str) -> list[str]:
    """SITE_URL's origin, and its loopback twin: a page opened at localhost and one opened
    at 127.0.0.1 are two origins to a browser, and both reach the same nginx."""
    parts = urlsplit(url)
    twins = {"localhost": "127.0.0.1", "127.0.0.1": "localhost"}
    hosts = [parts.hostname] + ([twins[parts.hostname]] if parts.hostname in twins else [])
    port = f":{parts.port}" if parts.port else ""
    return [f"{parts.scheme}://{host}{port}" for host in hosts]


# Where the browser may come from: Centrifugo's allowed origins and Django's CSRF check.
SITE_ORIGINS = _site_origins(SITE_URL)
CSRF_TRUSTED_ORIGINS = SITE_ORIGINS

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "axes",
    "csp",
    "drf_spectacular_sidecar",
    "drf_spectacular",
    "core",
    "accounts",
    "chats",
    "realtime",
    "edge",
    "web",
    "django_celery_beat",
    "notifications",
    "reports",
    "reads",
    "search",
    "presence",
    "ops",
    "attachments",
    "push",
    "reactions",
    "desktop",
]

MIDDLEWARE = [
    # First: every request's latency and status, refusals included (core.metrics, /metrics).
    "core.middleware.MetricsMiddleware",
    "core.middleware.BodySizeLimitMiddleware",
    "core.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.csp.ContentSecurityPolicyMiddleware",
    # nginx serves /static/ from STATIC_ROOT; WhiteNoise answers for a server run without
    # it (runserver, a bare WSGI server). Made async-capable, so async views (long polling,
    # SSE) hold no thread.
    "core.middleware.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.middleware.LazyMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a locked-out login (django-axes) into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "messenger.urls"
ASGI_APPLICATION = "messenger.asgi.application"
WSGI_APPLICATION = "messenger.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _local_database_url() -> str:
    port = env.int("MESSENGER_PG_PORT", default=55432)
    password = quote(env.str("POSTGRES_PASSWORD", default=""), safe="")
    # The app's own role (scripts/services.sh): owns the database, is not a superuser.
    return f"postgres://messenger_app:{password}@127.0.0.1:{port}/messenger"


DATABASE_URL = env.str("DATABASE_URL", default="") or _local_database_url()
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
# Django's PostgreSQL backend with a cheaper check of pooled connections (core.postgresql).
DATABASES["default"]["ENGINE"] = "core.postgresql"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
# A database that does not answer makes a request fail fast (503, see core.exceptions)
# instead of holding a worker: libpq's connect timeout (2 s is its minimum) and, with a pool,
# how long a request waits for a free connection.
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int("DB_CONNECT_TIMEOUT", default=2)
DB_POOL_TIMEOUT = env.float("DB_POOL_TIMEOUT", default=1.0)
# After a failed connection, requests are refused with 503 at once for this long (then one
# tries again): an outage does not hold every thread for DB_POOL_TIMEOUT (core.breaker).
DB_UNAVAILABLE_HOLD_SECONDS = env.float("DB_UNAVAILABLE_HOLD_SECONDS", default=0.5)
# The longest one probe request holds its turn (a cancelled one never reports): a connect
# attempt takes DB_CONNECT_TIMEOUT at most.
DB_PROBE_LEASE_SECONDS = env.float("DB_PROBE_LEASE_SECONDS", default=5.0)
# A pool of PostgreSQL connections (psycopg_pool) instead of one connection per request; on
# for the web processes (supervisord sets it), off for Celery's prefork workers, whose pool
# would be copied, threads and all, into every forked child. `python -m bench api-throughput` measures it.
# One connection a thread, all of them opened as the worker starts (messenger.wsgi) and kept:
# a connection opened under load made its request wait for the connect, its authentication
# and a new backend's first statements, and the queue behind it past REQUEST_QUEUE_TIMEOUT_MS
# (docs/performance.md, "Twelfth pass").
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=0)
if DB_POOL_MAX_SIZE:
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": DB_POOL_MAX_SIZE,
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": DB_POOL_TIMEOUT,
    }
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A pooled connection is checked (an empty query) before a request gets it only when it has
# not been for this long (core.postgresql): a check on every checkout was a round trip per
# request.
DB_POOL_CHECK_INTERVAL_SECONDS = env.float("DB_POOL_CHECK_INTERVAL_SECONDS", default=1.0)
# No statement, lock wait or idle transaction holds a connection (and the event feed's
# horizon, see realtime) for long: each is cut off by PostgreSQL after these milliseconds.
DB_STATEMENT_TIMEOUT_MS = env.int("DB_STATEMENT_TIMEOUT_MS", default=15_000)
DB_LOCK_TIMEOUT_MS = env.int("DB_LOCK_TIMEOUT_MS", default=5_000)
DB_IDLE_IN_TRANSACTION_TIMEOUT_MS = env.int("DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", default=60_000)
DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
    f"-c statement_timeout={DB_STATEMENT_TIMEOUT_MS} -c lock_timeout={DB_LOCK_TIMEOUT_MS}"
    f" -c idle_in_transaction_session_timeout={DB_IDLE_IN_TRANSACTION_TIMEOUT_MS}"
)
# The message insert (chats.services.message_create, a statement of six CTEs) is prepared on
# a connection once it has run this often there (core.postgresql's prepared_cursor): a pooled
# connection runs it thousands of times, and PostgreSQL then skips parsing and planning it.
# Django's own statements bind client-side and are never prepared.
DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 2
# DATABASE_URL points at PgBouncer in transaction mode (the cluster profile, docs/deploy.md):
# consecutive transactions of one Django connection may run on different server sessions,
# so nothing may outlive a transaction: server-side cursors (a named cursor lives across
# fetches) and prepared statements are off. LISTEN (the feed's listener) and Centrifugo's
# outbox consumer need a session: they connect to PostgreSQL directly. PgBouncer 1.18 drops the
# `options` startup parameter above: it sets the same timeouts on each server connection it
# opens (connect_query, ops/cluster.py).
DB_BEHIND_TRANSACTION_POOLER = env.bool("DB_BEHIND_TRANSACTION_POOLER", default=False)
if DB_BEHIND_TRANSACTION_POOLER:
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"

LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = STATE_DIR / "static"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # orjson both ways (several times faster than the standard library on every request);
    # bad JSON, however deep, a 400.
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["core.renderers.JSONRenderer"],
    # DRF's negotiation, with a short way for the `Accept` nearly every client sends.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.negotiation.ContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Messenger API",
    "DESCRIPTION": "Chats, members and messages, with real-time delivery of every change.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the drf-spectacular-sidecar package (static files), not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Long polling and SSE are async Django views, outside DRF: documented by this hook.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "edge.openapi.add_update_feed_paths",
    ],
    "ENUM_NAME_OVERRIDES": {
        "MembershipRoleEnum": "chats.models.Membership.Role",
        "AssignableRoleEnum": "chats.serializers.ASSIGNABLE_ROLES",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
# Centrifugo (tokens, ports, engine, personal channels): one module of its own.
from .centrifugo import *  # noqa: E402, F403

# nginx, granian, uvicorn and supervisord: ports, workers, overload limits.
from .serving import *  # noqa: E402, F403

DEMO_ACCOUNT = {
    "username": env.str("DEMO_USERNAME", default="demo"),
    "email": env.str("DEMO_EMAIL", default="demo@example.com"),
    "password": env.str("DEMO_PASSWORD", default=""),
}

# Celery and the background jobs; outgoing email. Modules of their own.
from .celery import *  # noqa: E402, F403
from .email import *  # noqa: E402, F403

# Read state, typing and presence, search.
from .features import *  # noqa: E402, F403

# Attachments and Web Push.
from .media import *  # noqa: E402, F403

# The event feed (polling, long polling, SSE).
from .realtime import *  # noqa: E402, F403

# Tokens, throttles, lockout, limits, content security policy.
from .security import *  # noqa: E402, F403
