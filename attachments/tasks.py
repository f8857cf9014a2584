"""Thumbnails, on the `media` queue (CELERY_TASK_ROUTES: attachments.*)."""

import io
import logging
import uuid

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from PIL import Image, ImageOps

from .models import Attachment
from .services import attachment_thumbnail_set
from .storage import attachments_storage

logger = logging.getLogger(__name__)


def thumbnail_bytes(file, size: int) -> bytes:
    """A WebP no larger than `size` on its longest side. Pillow's MAX_IMAGE_PIXELS (set in
    attachments.apps) refuses a bomb before decoding; JPEG decodes at reduced scale."""
    with Image.open(file) as image:
        image.draft("RGB", (size, size))
        image = ImageOps.exif_transpose(image)
        image.thumbnail((size, size))
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "transparency" in image.info or image.mode in ("LA", "PA") else "RGB")
        out = io.BytesIO()
        image.save(out, format="WEBP", quality=80)
        return out.getvalue()


@shared_task(
    name="attachments.thumbnail_make",
    soft_time_limit=settings.ATTACHMENTS_THUMBNAIL_SOFT_TIME_LIMIT,
    time_limit=settings.ATTACHMENTS_THUMBNAIL_TIME_LIMIT,
)
def attachment_thumbnail_make(attachment_id: int) -> str:
    """Makes the thumbnail of a pending image and emits `attachment.updated`. A file that
    cannot be decoded, or takes too long, marks the attachment failed: the task never
    retries what will fail again, and never leaves the worker stuck (time limits)."""
    attachment = Attachment.objects.filter(pk=attachment_id).first()
    if attachment is None or attachment.status != Attachment.Status.PENDING:
        return "skipped"
    storage = attachments_storage()
    name = None
    try:
        with storage.open(attachment.file.name, "rb") as file:
            data = thumbnail_bytes(file, settings.ATTACHMENTS_THUMBNAIL_SIZE)
        name = storage.save(f"thumbnails/{attachment.chat_id}/{uuid.uuid4().hex}.webp", ContentFile(data))
    except SoftTimeLimitExceeded:
        logger.warning("thumbnail of attachment %s: time limit", attachment_id)
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError, Image.DecompressionBombError) as exc:
        logger.warning("thumbnail of attachment %s failed: %r", attachment_id, exc)
    attachment_thumbnail_set(attachment_id=attachment_id, thumbnail=name)
    return "ready" if name else "failed"
