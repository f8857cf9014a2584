"""What the chats app tells the apps above it, which it does not import (import-linter's
layers): they connect receivers in their AppConfig.ready. Sent inside the change's
transaction; a receiver that sends work elsewhere does it on commit."""

from django.dispatch import Signal

# A new message (not a client_id repeat) was written; kwargs: message, direct (whether its
# chat is a direct one, known without a query).
message_created = Signal()

# A member was added (the caller holds the chat's row lock); kwargs: membership, added_by
# (None for system paths). Notifications records the admins' emails in the same transaction.
member_added = Signal()
