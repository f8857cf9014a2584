from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models

from .events import EventEnvelope


class Event(models.Model):
    """The event log: every domain change, in commit order, with who may see it.

    `id` is the cursor of every transport (polling, long polling, SSE) and the idempotency
    key of the Centrifugo broadcast. Events are written only by `realtime.services.event_emit`.
    """

    type = models.CharField(max_length=50)
    chat_id = models.BigIntegerField(db_index=True)
    # The users who receive this event: the chat's members when it happened (plus a removed
    # member, for their own removal). A feed is `recipient_ids @> [user_id]`.
    recipient_ids = ArrayField(models.BigIntegerField())
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [GinIndex(fields=["recipient_ids"], name="realtime_event_recipients")]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"

    def envelope(self) -> EventEnvelope:
        """The JSON every transport delivers for this event."""
        return {
            "type": self.type,
            "chat_id": self.chat_id,
            "id": self.pk,
            "data": self.data,
            "ts": self.created_at.isoformat(),
        }


class CentrifugoOutbox(models.Model):
    """Rows that Centrifugo's PostgreSQL outbox consumer dispatches and deletes.

    The schema is Centrifugo's: it reads `id, method, payload, partition` in id order.
    """

    method = models.TextField()
    payload = models.JSONField()
    partition = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "centrifugo_outbox"

    def __str__(self) -> str:
        return f"{self.method} #{self.pk}"


class EventLogPrune(models.Model):
    """One row per pruning of the event log: the horizon below which cursors are gone.

    A cursor below the highest `pruned_through` may have missed deleted events, so the feed
    answers 410 instead of silently skipping them. Kept as rows (not one counter) so the
    admin shows when and how much each run removed.
    """

    pruned_through = models.BigIntegerField(help_text="Every event with an id up to this one was deleted.")
    deleted = models.IntegerField()
    pruned_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"pruned through #{self.pruned_through}"
