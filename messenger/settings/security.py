"""Who may do how much: API tokens, throttles, brute-force lockout, size limits and the
content security policy. Star-imported at the end of base.py; every value from the
environment."""

from datetime import timedelta

from .env import REDIS_URL, env

# API tokens (django-rest-knox): only a SHA-512 digest is stored; one token per device or
# client (each login makes one); each expires API_TOKEN_TTL_SECONDS after it was issued.
API_TOKEN_TTL_SECONDS = env.int("API_TOKEN_TTL_SECONDS", default=7 * 24 * 3600)
REST_KNOX = {
    "TOKEN_TTL": timedelta(seconds=API_TOKEN_TTL_SECONDS),
    # Clients send `Authorization: Token <key>`, as with DRF's own tokens before.
    "AUTH_HEADER_PREFIX": "Token",
    # A runaway client logging in in a loop must not grow the table without bound.
    "TOKEN_LIMIT_PER_USER": env.int("API_TOKENS_PER_USER_MAX", default=50),
    "AUTO_REFRESH": False,
}
# A token the process has seen is served from memory (accounts.token_cache) for this long:
# no query, and a Redis GET only when a token was revoked somewhere since it was last checked
# (logout stays immediate in every process). 0 turns the cache off. A revocation Redis missed
# is published again within 10 s by celery beat (accounts.token_revocations_publish), so this
# bounds that failure only while beat or its worker is down.
AUTH_TOKEN_CACHE_SECONDS = env.int("AUTH_TOKEN_CACHE_SECONDS", default=600)
# Each process asks Redis whether any token was revoked at most this often; a revocation
# (logout, a new password, deactivation) answers only after this long. 0: ask on every request.
AUTH_TOKEN_REVOCATION_SECONDS = env.float("AUTH_TOKEN_REVOCATION_SECONDS", default=0.05)
AUTH_TOKEN_CACHE_KEY_PREFIX = env.str("AUTH_TOKEN_CACHE_KEY_PREFIX", default="messenger-token-gen")
# Past this, Redis is taken as unreachable and the database decides.
AUTH_TOKEN_CACHE_REDIS_TIMEOUT_SECONDS = env.float("AUTH_TOKEN_CACHE_REDIS_TIMEOUT_SECONDS", default=0.25)

# Throttle counters live in Redis, under a prefix of their own, so every web process counts
# together and a restart forgets nothing. A test run gets its own prefix (settings/test.py).
THROTTLE_CACHE_KEY_PREFIX = env.str("THROTTLE_CACHE_KEY_PREFIX", default="messenger-throttle")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": {
        # Django's Redis backend, reusing its client (core.cache: a new one per call cost more
        # than the round trip).
        "BACKEND": "core.cache.ReusingRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": THROTTLE_CACHE_KEY_PREFIX,
        # A Redis outage must not hang every request: fail fast (core.throttling lets the
        # request through when the counter cannot be read).
        "OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
    },
}
# Requests per period ("N/s", "N/min", "N/hour", "N/day"), per user when signed in, per
# client IP otherwise. Read on every request (core.throttling), so tests can lower them.
THROTTLE_RATES = {
    # POST /api/auth/token/: guessing passwords over the API.
    "login": env.str("THROTTLE_RATE_LOGIN", default="10/min"),
    # POST /api/auth/register/ and the sign-up page: account farming.
    "register": env.str("THROTTLE_RATE_REGISTER", default="5/hour"),
    # Finding users by name: enumerating who has an account.
    "user_lookup": env.str("THROTTLE_RATE_USER_LOOKUP", default="60/min"),
    # Adding members: pulling strangers into chats (and the emails that go with it).
    "member_add": env.str("THROTTLE_RATE_MEMBER_ADD", default="60/min"),
    # Posting messages: a flood from one account.
    "message_post": env.str("THROTTLE_RATE_MESSAGE_POST", default="120/min"),
    # Costly endpoints, per account and (`_address`) per client address: an address's rate
    # is a few accounts' worth, for people behind one NAT.
    # Creating chats: each notifies everyone it names.
    "chat_create": env.str("THROTTLE_RATE_CHAT_CREATE", default="20/hour"),
    "chat_create_address": env.str("THROTTLE_RATE_CHAT_CREATE_ADDRESS", default="60/hour"),
    # Editing and deleting messages: a fan-out to every member and a reset of the chat's history.
    "message_edit": env.str("THROTTLE_RATE_MESSAGE_EDIT", default="30/min"),
    "message_edit_address": env.str("THROTTLE_RATE_MESSAGE_EDIT_ADDRESS", default="120/min"),
    # Changing roles: an event to every member.
    "member_role": env.str("THROTTLE_RATE_MEMBER_ROLE", default="30/min"),
    "member_role_address": env.str("THROTTLE_RATE_MEMBER_ROLE_ADDRESS", default="120/min"),
    # Search: ranks every match (up to the statement timeout).
    "search": env.str("THROTTLE_RATE_SEARCH", default="30/min"),
    "search_address": env.str("THROTTLE_RATE_SEARCH_ADDRESS", default="120/min"),
    # Read markers: a write and an event per call; a client moves it as its user scrolls.
    "read_marker": env.str("THROTTLE_RATE_READ_MARKER", default="120/min"),
    "read_marker_address": env.str("THROTTLE_RATE_READ_MARKER_ADDRESS", default="480/min"),
    # Toggling reactions: each one is an event to every member of the chat.
    "reaction": env.str("THROTTLE_RATE_REACTION", default="120/min"),
}
# Reverse proxies in front of the app whose X-Forwarded-For is trusted (nginx: 1). Zero when
# clients reach the app directly: their X-Forwarded-For would be a lie they chose.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Brute-force lockout on the login forms (web page, Django admin, API token) by django-axes:
# after this many failures for one username from one address, that pair is locked out for
# the cool-off time (429 with the JSON error body on the API).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "core.net.client_ip"
AXES_LOCKOUT_CALLABLE = "core.net.lockout_response"
AXES_SENSITIVE_PARAMETERS = ["password"]
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username and address before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Members per chat. An event goes to the chat's channel once (Centrifugo fans it out) and reactions
# keep their counts on the message row, so a room of 10,000 costs a write what a room of 2 does.
CHAT_MEMBERS_MAX = env.int("CHAT_MEMBERS_MAX", default=10_000)
# Page sizes of the chat and member lists (?limit=&offset=).
LIST_PAGE_SIZE = 50
LIST_PAGE_SIZE_MAX = 200

# Content security policy (django-csp): scripts, styles and fonts from this site only, no
# inline script, the WebSocket to Centrifugo (its origin added per response by
# core.csp, from CENTRIFUGO_WS_URL), nothing framed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# A refused CSRF check on an API path answers in the JSON error body.
CSRF_FAILURE_VIEW = "core.views.csrf_failure"
AXES_DISABLE_ACCESS_LOG = True  # successful logins are not recorded (the table would only grow)
