"""Read state, typing, presence and search: what the chat list and the chat page show
besides messages."""

from .env import env

# Unread and mention counts scan at most this many unread messages per chat (newest first):
# the chat list costs what is unread, capped, never what the chat holds. Past it the page
# shows "100+".
READS_COUNT_CAP = env.int("READS_COUNT_CAP", default=100)
# A read marker that moves is an event to every member ("seen", "read by N") in a chat of
# at most this many members; in a bigger one it goes to the reader's own tabs only.
READS_BROADCAST_MAX_MEMBERS = env.int("READS_BROADCAST_MAX_MEMBERS", default=200)
# Typing: Centrifugo namespace (no history: typing is never stored) and the least time
# between two typing publications of one user in one chat.
CENTRIFUGO_TYPING_NAMESPACE = "typing"
TYPING_THROTTLE_SECONDS = env.float("TYPING_THROTTLE_SECONDS", default=2.0)
# Typing is published straight to Centrifugo's server API, CENTRIFUGO_API_URL (its internal
# port; settings/centrifugo.py); every event goes through the outbox instead.
# Search results per page (the most a client may ask for).
SEARCH_PAGE_SIZE_MAX = 50
