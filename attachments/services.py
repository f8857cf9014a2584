"""Writes of attachments: an upload makes a message and its attachment in one transaction;
a thumbnail task marks it ready; deleting the message deletes the files after commit."""

import logging
import os
import uuid

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from accounts.models import User
from chats.models import Membership, Message
from chats.services import message_create
from core.exceptions import NotFoundError
from realtime.services import event_emit

from .content import EXTENSIONS, file_check
from .models import Attachment
from .representations import attachment_data
from .storage import attachments_storage

logger = logging.getLogger(__name__)

NAME_MAX = 255


def _display_name(name: str) -> str:
    """The uploader's file name without any directory part, bounded; shown, never a path."""
    name = os.path.basename((name or "").replace("\\", "/")).strip() or "file"
    return "".join(ch for ch in name if ch.isprintable())[:NAME_MAX] or "file"


def attachment_upload(
    *, chat_id: int, author: User, upload: UploadedFile, text: str = "", client_id: str | None = None
) -> tuple[Attachment, bool]:
    """Posts a message with one file as a member of the chat; returns the attachment and
    whether it is new (a repeated `client_id` returns the first one, as messages do).

    The file is checked from its content (content.file_check), stored under a name of ours,
    then the message, the attachment and the `attachment.created` event commit together; an
    image gets its thumbnail from a task on the `media` queue after commit.
    """
    if not Membership.objects.filter(chat_id=chat_id, user=author).exists():
        raise NotFoundError("Chat not found.")
    kind = file_check(upload, size=upload.size)
    storage = attachments_storage()
    stored = storage.save(f"files/{chat_id}/{uuid.uuid4().hex}{EXTENSIONS[kind.content_type]}", upload)
    try:
        with transaction.atomic():
            message, created = message_create(chat_id=chat_id, author=author, text=text, client_id=client_id)
            if not created:
                existing = message.attachments.order_by("id").first()
                if existing is not None:
                    storage.delete(stored)
                    return existing, False
            attachment = Attachment.objects.create(
                chat_id=chat_id,
                message=message,
                uploaded_by=author,
                file=stored,
                name=_display_name(upload.name),
                content_type=kind.content_type,
                size=upload.size,
                width=kind.width,
                height=kind.height,
                status=Attachment.Status.PENDING if kind.width else Attachment.Status.READY,
            )
            event_emit(type="attachment.created", chat_id=chat_id, data=attachment_data(attachment))
            if attachment.status == Attachment.Status.PENDING:
                from .tasks import attachment_thumbnail_make

                attachment_thumbnail_make.delay_on_commit(attachment.pk)
    except BaseException:
        storage.delete(stored)
        raise
    return attachment, True


def attachment_thumbnail_set(*, attachment_id: int, thumbnail: str | None) -> Attachment | None:
    """Records the thumbnail (or that none could be made) and tells the chat's members.
    Does nothing to an attachment that is gone or no longer pending (a task run twice)."""
    with transaction.atomic():
        attachment = Attachment.objects.select_for_update().filter(pk=attachment_id).first()
        if attachment is None or attachment.status != Attachment.Status.PENDING:
            if thumbnail:
                _delete_files_on_commit([thumbnail])
            return attachment
        attachment.thumbnail = thumbnail or ""
        attachment.status = Attachment.Status.READY if thumbnail else Attachment.Status.FAILED
        attachment.save(update_fields=["thumbnail", "status"])
        event_emit(type="attachment.updated", chat_id=attachment.chat_id, data=attachment_data(attachment))
    return attachment


def message_attachments_delete(*, message: Message) -> int:
    """Deletes the message's attachments; their files go once the transaction commits."""
    deleted, _ = Attachment.objects.filter(message=message).delete()  # post_delete removes the files
    return deleted


def _delete_files_on_commit(names: list[str]) -> None:
    def delete() -> None:
        storage = attachments_storage()
        for name in names:
            try:
                storage.delete(name)
            except OSError:
                logger.warning("attachments: could not delete %s", name, exc_info=True)

    transaction.on_commit(delete)


def attachment_files_delete_on_commit(attachment: Attachment) -> None:
    """After commit, the attachment's file and thumbnail leave the storage (a rollback keeps them)."""
    _delete_files_on_commit([name for name in (attachment.file.name, attachment.thumbnail.name) if name])
