"""What a file is, read from its content: magic bytes, and for images Pillow's own checks.

The name and the Content-Type the client sent are never trusted. An image is opened (its
header), its pixel count checked against ATTACHMENTS_IMAGE_MAX_PIXELS before any pixel is
decoded (a decompression bomb is refused here), verified (PNG: every chunk's CRC), then
decoded at reduced scale where the format allows it (JPEG's draft mode), which finds a
truncated file; any failure is a 400.
"""

import warnings
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from core.exceptions import ApplicationError

_SNIFF_BYTES = 4096
_SIGNATURES: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
]
_PILLOW_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "text/plain": ".txt",
}


@dataclass(frozen=True)
class FileKind:
    content_type: str
    width: int | None = None
    height: int | None = None


def _refuse(message: str) -> ApplicationError:
    return ApplicationError(message, extra={"fields": {"file": [message]}})


def sniff(head: bytes) -> str | None:
    """The content type that the first bytes of a file say, or None."""
    for magic, content_type in _SIGNATURES:
        if head.startswith(magic):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head and b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 3:  # not just a character cut at the end of the sample
                return None
        return "text/plain"
    return None


def image_check(file: IO[bytes], content_type: str) -> tuple[int, int]:
    """Width and height of a sound image of the sniffed type; ApplicationError otherwise."""
    limit = settings.ATTACHMENTS_IMAGE_MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            file.seek(0)
            with Image.open(file) as image:
                if image.format != _PILLOW_FORMATS[content_type]:
                    raise _refuse("The image's content does not match its type.")
                width, height = image.size
                if width * height > limit:
                    raise _refuse(f"The image is too large: at most {limit} pixels.")
                image.verify()
            file.seek(0)
            with Image.open(file) as image:
                # JPEG decodes at 1/2..1/8 scale here: the whole stream is read (a truncated
                # one fails) without the full-size pixels in memory.
                image.draft("RGB", (settings.ATTACHMENTS_THUMBNAIL_SIZE * 2,) * 2)
                image.load()
    except ApplicationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _refuse(f"The image is too large: at most {limit} pixels.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise _refuse(f"The image cannot be read: {exc.__class__.__name__}.") from None
    finally:
        file.seek(0)
    return width, height


def file_check(file: IO[bytes], *, size: int) -> FileKind:
    """The checked kind of an uploaded file: size, type by content, image soundness."""
    if size <= 0:
        raise _refuse("The file is empty.")
    if size > settings.ATTACHMENTS_MAX_BYTES:
        raise _refuse(f"The file is too large: at most {settings.ATTACHMENTS_MAX_BYTES} bytes.")
    file.seek(0)
    head = file.read(_SNIFF_BYTES)
    file.seek(0)
    content_type = sniff(head)
    if content_type is None or content_type not in settings.ATTACHMENTS_ALLOWED_TYPES:
        raise _refuse("This type of file is not accepted.")
    if content_type in _PILLOW_FORMATS:
        width, height = image_check(file, content_type)
        return FileKind(content_type, width, height)
    return FileKind(content_type)
