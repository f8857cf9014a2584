"""The JSON of an attachment: what the REST API answers and what its events carry."""

from typing import Any

from django.urls import reverse

from chats.representations import iso_time

from .models import Attachment


def attachment_data(attachment: Attachment) -> dict[str, Any]:
    has_thumbnail = bool(attachment.thumbnail)
    return {
        "id": attachment.pk,
        "chat_id": attachment.chat_id,
        "message_id": attachment.message_id,
        "uploaded_by": attachment.uploaded_by_id,
        "name": attachment.name,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "width": attachment.width,
        "height": attachment.height,
        "status": attachment.status,
        # Members only: each answer checks membership, then nginx sends the bytes.
        "url": reverse("attachment-file", args=[attachment.pk]),
        "thumbnail_url": reverse("attachment-thumbnail", args=[attachment.pk]) if has_thumbnail else None,
        "created_at": iso_time(attachment.created_at),
    }
