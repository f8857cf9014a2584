from django.conf import settings
from django.db import models


class ReadMarker(models.Model):
    """How far one member has read one chat: every message with an id up to `last_read_id`.

    One row per membership (deleted with it: a member who leaves and comes back starts from
    the chat's newest message again). It only moves forward (`reads.services.read_marker_move`,
    one conditional upsert). `chat` and `user` repeat the membership's, so that "how many
    have read message N" is one range count over (chat, last_read_id), and the chat list
    joins it by membership.
    """

    membership = models.OneToOneField(
        "chats.Membership", primary_key=True, on_delete=models.CASCADE, related_name="read_marker"
    )
    chat = models.ForeignKey("chats.Chat", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    last_read_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["chat", "last_read_id"], name="readmarker_chat_last_read")]

    def __str__(self) -> str:
        return f"user #{self.user_id} read chat #{self.chat_id} up to #{self.last_read_id}"
