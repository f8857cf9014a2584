from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex, GinIndex
from django.db import models
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from .events import EventEnvelope


class CurrentTransactionId(models.Func):
    """`pg_current_xact_id()` as a bigint: the id of the writing transaction."""

    template = "(pg_current_xact_id()::text::bigint)"
    output_field = models.BigIntegerField()


class ResumeTransactionId(models.Func):
    """The oldest transaction running when the row is inserted (the snapshot's xmin), or the
    writer's own id when it is older: no event with a lower id can commit after this row
    unless its transaction id is at least this (`realtime.selectors.cursor_position`)."""

    template = "(least(pg_snapshot_xmin(pg_current_snapshot())::text::bigint, pg_current_xact_id()::text::bigint))"
    output_field = models.BigIntegerField()


class Event(models.Model):
    """The event log: every domain change, in commit order, with who may see it.

    `id` is the cursor of every transport (polling, long polling, SSE) and the idempotency
    key of the Centrifugo publication. Events are written only by `realtime.services`.

    Who sees an event is decided when it is read, not stored per member: the chat's members
    of the moment (`to_members`) and the users in `also_to` (a removed member, the members
    of a deleted chat). A message to a chat of 10,000 costs one row, not a list of 10,000.

    Feed order is `(txid, id)`, not `id`: ids are handed out at insert, so a transaction can
    commit after another that took a higher id. Readers take only events whose transaction
    is below the oldest one still running (`pg_snapshot_xmin`), so none can appear behind a
    cursor later; no lock serialises the writers.
    """

    type = models.CharField(max_length=50)
    chat_id = models.BigIntegerField()
    to_members = models.BooleanField(default=True)
    also_to = ArrayField(models.BigIntegerField(), default=list, blank=True)
    data = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    txid = models.BigIntegerField(db_default=CurrentTransactionId(), editable=False)
    resume_txid = models.BigIntegerField(db_default=ResumeTransactionId(), editable=False)

    class Meta:
        indexes = [
            models.Index(fields=["txid", "id"], name="realtime_event_position"),
            models.Index(fields=["chat_id", "txid", "id"], name="realtime_event_chat_position"),
            # Read once a day, by the pruning task: BRIN keeps a summary per block range, near
            # free per insert, where a B-tree wrote an entry for every event.
            BrinIndex(fields=["created_at"], name="realtime_event_created_at"),
            # Only the few events that name users: GIN indexes an empty array too, and nearly
            # every event (each message's) names nobody. Queries say `also_to <> '{}'` to use it.
            GinIndex(fields=["also_to"], name="realtime_event_named_users", condition=~models.Q(also_to=[])),
            # A message's events, found when it is deleted or edited (services.message_events_redact).
            models.Index(
                models.F("chat_id"),
                KeyTransform("id", "data"),
                name="realtime_event_message",
                condition=models.Q(type__in=["message.created", "message.updated"]),
            ),
        ]

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
