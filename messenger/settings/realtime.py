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
# A cursor more than this many events behind the newest is answered 410: the client
# reloads over REST instead of paging through the backlog.
REALTIME_FEED_MAX_BEHIND = env.int("REALTIME_FEED_MAX_BEHIND", default=100_000)
# Long-lived feed requests (long polls and SSE streams) one account may hold at once in one
# feed process; past it: 429 with Retry-After.
REALTIME_FEED_STREAMS_PER_USER = env.int("REALTIME_FEED_STREAMS_PER_USER", default=10)
# The feed process remembers who a token or session is and which chats a user is in, kept
# true by the events it reads (revocations, membership changes); an entry lives at most this
# long and there are at most REALTIME_FEED_CACHE_ENTRIES of each.
REALTIME_FEED_CACHE_SECONDS = env.float("REALTIME_FEED_CACHE_SECONDS", default=60.0)
REALTIME_FEED_CACHE_ENTRIES = env.int("REALTIME_FEED_CACHE_ENTRIES", default=50_000)
# The feed process collects its garbage in full on a timer this often, one pause per period
# instead of many under load (`edge.feed_gc`); benchmarks shorten it to measure that pause.
REALTIME_FEED_GC_FULL_COLLECT_SECONDS = env.float("REALTIME_FEED_GC_FULL_COLLECT_SECONDS", default=15 * 60.0)
# Tests: every feed answer carries X-Feed-Statements, the SQL statements this process ran.
REALTIME_FEED_COUNT_STATEMENTS = env.bool("REALTIME_FEED_COUNT_STATEMENTS", default=False)
