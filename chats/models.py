from django.conf import settings
from django.core.validators import MinLengthValidator
from django.db import models
from django.db.models import Q, Value

MESSAGE_MAX_LENGTH = 4000


class Chat(models.Model):
    class Kind(models.TextChoices):
        DIRECT = "direct", "Direct"
        GROUP = "group", "Group"

    title = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.GROUP)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Moved forward by every new message: the chat list is ordered by it (a page of one
    # user's memberships, sorted). Not indexed: an indexed column makes every message's
    # update of it a non-HOT update, a new row version in each of the table's indexes.
    last_activity_at = models.DateTimeField(auto_now_add=True)
    # Announcement mode: only the owner and admins post (a room of thousands stays readable).
    announcement = models.BooleanField(default=False, db_default=False)

    def __str__(self) -> str:
        return self.title or f"{self.get_kind_display()} chat #{self.pk}"


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chat", "user"], name="membership_unique_chat_user"),
            # At most one owner; migration 0002's deferred trigger adds "at least one" at commit.
            models.UniqueConstraint(
                fields=["chat"],
                condition=Q(role="owner"),
                name="membership_one_owner_per_chat",
                violation_error_message="A chat has exactly one owner.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.chat} ({self.role})"


class Message(models.Model):
    # Indexed by `message_chat_id` (chat, id), which serves every lookup by chat alone too.
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="messages", db_index=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField(max_length=MESSAGE_MAX_LENGTH, validators=[MinLengthValidator(1)], blank=True)
    # Chosen by the client so that a retried POST never creates a second message.
    client_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - NULL: no key, unconstrained
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The message this one answers, in the same chat (chats.services.message_create checks).
    # Soft deletion keeps the row: the quote then reads "deleted message". ON DELETE SET NULL
    # is the database's (migration 0003), so deleting a chat still deletes its messages in
    # one statement instead of loading each to null its replies.
    reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+")
    # Emoji -> how many members reacted with it (the reactions app keeps it): one row per
    # message, whatever the chat's size, read with the message at no extra query.
    reactions = models.JSONField(default=dict, db_default=Value({}, output_field=models.JSONField()), blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["author", "chat", "client_id"],
                condition=Q(client_id__isnull=False),
                name="message_unique_client_id",
            )
        ]
        indexes = [models.Index(fields=["chat", "id"], name="message_chat_id")]

    def __str__(self) -> str:
        return f"Message #{self.pk} in chat #{self.chat_id}"


class MessageEdit(models.Model):
    """An earlier version of an edited message: its text and when it was written. Deleting
    the message (soft or hard) deletes its versions."""

    # ON DELETE CASCADE in the database (migration 0003), as for reply_to.
    message = models.ForeignKey(Message, on_delete=models.DO_NOTHING, related_name="edits")
    text = models.TextField(max_length=MESSAGE_MAX_LENGTH)
    written_at = models.DateTimeField()
    replaced_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Version of message #{self.message_id} from {self.written_at}"
