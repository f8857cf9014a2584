from django.conf import settings
from django.db import models

from chats.models import Chat, Message

from .storage import attachments_storage


class Attachment(models.Model):
    """A file sent with a message. The bytes live in the attachments storage under a name we
    chose (`file`); `name` is what the uploader called it, shown to members, never a path."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # an image whose thumbnail is being made
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"  # no thumbnail could be made; the file is still there

    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    file = models.FileField(storage=attachments_storage, max_length=255)
    thumbnail = models.FileField(storage=attachments_storage, max_length=255, blank=True)
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.BigIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.READY)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["chat", "message"], name="attachment_chat_message")]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk}) on message #{self.message_id}"

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")
