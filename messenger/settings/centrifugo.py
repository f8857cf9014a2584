"""Centrifugo: the WebSocket server that holds the browsers' connections.

Django signs connection tokens with the HMAC secret; `manage.py centrifugo_config` renders
Centrifugo's own config from these same values, so the two never disagree.
"""

from .env import env

# The client port: WebSocket connections, reached through nginx's /connection/.
CENTRIFUGO_PORT = env.int("CENTRIFUGO_PORT", default=8801)
# Admin UI, server HTTP API, health and Prometheus metrics: a loopback port nginx never
# proxies, so nothing but this machine reaches them.
CENTRIFUGO_INTERNAL_PORT = env.int("CENTRIFUGO_INTERNAL_PORT", default=8804)
CENTRIFUGO_API_URL = env.str("CENTRIFUGO_API_URL", default=f"http://127.0.0.1:{CENTRIFUGO_INTERNAL_PORT}/api")
# Where a browser opens its WebSocket. Empty (the default): the origin the page was loaded
# from, `/connection/websocket`, which nginx proxies to Centrifugo
# (realtime.tokens.centrifugo_ws_url); the page then works at localhost and 127.0.0.1 alike.
CENTRIFUGO_WS_URL = env.str("CENTRIFUGO_WS_URL", default="")
CENTRIFUGO_HTTP_API_KEY = env.str("CENTRIFUGO_HTTP_API_KEY")
CENTRIFUGO_TOKEN_HMAC_SECRET = env.str("CENTRIFUGO_TOKEN_HMAC_SECRET")
# A stolen token is useful for this long at most; the page asks for a new one before expiry.
CENTRIFUGO_TOKEN_TTL_SECONDS = min(env.int("CENTRIFUGO_TOKEN_TTL_SECONDS", default=600), 15 * 60)
CENTRIFUGO_ADMIN_PASSWORD = env.str("CENTRIFUGO_ADMIN_PASSWORD", default="")
CENTRIFUGO_ADMIN_SECRET = env.str("CENTRIFUGO_ADMIN_SECRET", default="")
# "memory" (one node, history lost on restart) or "redis" (history survives restarts).
CENTRIFUGO_ENGINE = env.str("CENTRIFUGO_ENGINE", default="memory")
# History of each personal channel: enough to recover a laptop's lid closed over lunch; a
# longer gap is refetched through the REST API.
CENTRIFUGO_HISTORY_SIZE = env.int("CENTRIFUGO_HISTORY_SIZE", default=1000)
CENTRIFUGO_HISTORY_TTL = env.str("CENTRIFUGO_HISTORY_TTL", default="12h")
CENTRIFUGO_PERSONAL_NAMESPACE = "personal"
# Every chat's events go to one channel `chat:<id>`: a message costs one publication and one
# history entry whatever the chat's size. Members subscribe with a subscription token.
CENTRIFUGO_CHAT_NAMESPACE = "chat"
# A subscription token is checked once, when the client subscribes; removal from the chat
# also unsubscribes at once. Short, so a kept token is soon useless.
CENTRIFUGO_SUBSCRIPTION_TOKEN_TTL_SECONDS = min(env.int("CENTRIFUGO_SUBSCRIPTION_TOKEN_TTL_SECONDS", default=300), 900)
# History of each chat channel: what a page that reconnects recovers without a REST reload.
CENTRIFUGO_CHAT_HISTORY_SIZE = env.int("CENTRIFUGO_CHAT_HISTORY_SIZE", default=1000)
# Who is online in a chat (Centrifugo's presence). Off by default: nothing shows it yet, and
# every subscriber refreshes its entry every 27 s, the largest Redis load at scale
# (docs/deploy.md). The cluster profile turns it on to prove that presence is shared.
CENTRIFUGO_CHAT_PRESENCE = env.bool("CENTRIFUGO_CHAT_PRESENCE", default=False)
# Admission in Centrifugo (per node): WebSockets of one account at once (its tabs and
# devices; a client past it is refused and reconnects later), new connections per second (a
# reconnect storm after a restart is spread out, clients back off with jitter), channels of
# one connection (the page subscribes to each chat it lists). The node's connection limit
# is its descriptor limit less a reserve (ops.centrifugo), so it refuses a client cleanly
# instead of failing to accept(); CENTRIFUGO_CONNECTION_LIMIT sets it instead.
CENTRIFUGO_USER_CONNECTION_LIMIT = env.int("CENTRIFUGO_USER_CONNECTION_LIMIT", default=32)
# Off (0) by default: at 2,000/s, bench scenario 5's connect burst (3 × 250 at once, 400/s)
# had 250 connects per load generator refused and held 2,043 clients instead of 8,000.
CENTRIFUGO_CONNECTION_RATE_LIMIT = env.int("CENTRIFUGO_CONNECTION_RATE_LIMIT", default=0)
CENTRIFUGO_CHANNEL_LIMIT = env.int("CENTRIFUGO_CHANNEL_LIMIT", default=512)
CENTRIFUGO_CONNECTION_LIMIT = env.int("CENTRIFUGO_CONNECTION_LIMIT", default=0)
# Centrifugo processes on this machine. 0 (the default): as many as EDGE_MAX_WEBSOCKETS needs
# within the per-process descriptor limit (ops.centrifugo.node_count); more than one use the
# Redis engine, so every publication crosses Redis. Node i listens on CENTRIFUGO_PORT + 100 i
# (internal port likewise); nginx spreads /connection/ over them (fewest connections first).
CENTRIFUGO_NODES = env.int("CENTRIFUGO_NODES", default=0)
