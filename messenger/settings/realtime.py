"""The event feed behind polling, long polling and server-sent events."""

from .env import env

# How long the event log keeps events. A client away for less than this resumes from its
# cursor; one away longer gets 410 and reloads (`realtime.services.event_log_prune`).
REALTIME_EVENT_RETENTION_DAYS = env.int("REALTIME_EVENT_RETENTION_DAYS", default=30)
# Events kept in memory by each process's listener: waiting long-poll and SSE clients whose
# cursor is within them are served without a database query.
REALTIME_LISTENER_BUFFER = env.int("REALTIME_LISTENER_BUFFER", default=10_000)
# SSE: a comment line this often keeps proxies and home routers from closing an idle stream
# (many drop an idle TCP connection after 30-60 s) and lets the server notice a gone client.
REALTIME_SSE_HEARTBEAT_SECONDS = env.float("REALTIME_SSE_HEARTBEAT_SECONDS", default=15.0)
