"""Deleting a message deletes its files: a soft delete (`chats.services.message_delete`
clears the text and sets `deleted_at`) deletes its attachments; a row that goes (a message
or chat deleted for good, cascading) takes its files with it after commit."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from chats.models import Message

from .models import Attachment
from .services import attachment_files_delete_on_commit, message_attachments_delete


@receiver(post_save, sender=Message, dispatch_uid="attachments.message_soft_deleted")
def _message_soft_deleted(sender, instance: Message, update_fields=None, raw: bool = False, **kwargs) -> None:
    if raw or instance.deleted_at is None or (update_fields is not None and "deleted_at" not in update_fields):
        return
    message_attachments_delete(message=instance)


@receiver(post_delete, sender=Attachment, dispatch_uid="attachments.files_delete")
def _attachment_deleted(sender, instance: Attachment, **kwargs) -> None:
    attachment_files_delete_on_commit(instance)
