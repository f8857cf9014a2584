"""Who reacted to a message with which emoji. The counts the chat shows live on the message
row (`chats.Message.reactions`), so reading a chat never aggregates these rows; they answer
"who reacted" and make a toggle exact. A chat of 10,000 members has no per-member rows per
message here: one row per reaction given."""

from django.conf import settings
from django.db import models

# Bytes, not characters: a flag or a family emoji is several code points.
EMOJI_MAX_LENGTH = 32


class Reaction(models.Model):
    # Deleting the message deletes its reactions: chats.services.message_delete (soft), and
    # the database's ON DELETE CASCADE (migration 0001) when a chat's messages go in one
    # statement; DO_NOTHING here keeps Django from loading each message to cascade.
    message = models.ForeignKey("chats.Message", on_delete=models.DO_NOTHING, related_name="reaction_rows")
    # A deleted account's reactions stay, anonymous, like its messages: the counts on the
    # message row keep matching these rows.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    emoji = models.CharField(max_length=EMOJI_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "emoji", "user"], name="reaction_one_per_user_emoji"),
        ]

    def __str__(self) -> str:
        return f"{self.emoji} by user #{self.user_id} on message #{self.message_id}"
