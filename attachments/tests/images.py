"""Files for the tests, made here: sound images, and poisoned ones."""

import io

from PIL import Image


def png_bytes(width: int = 64, height: int = 48, color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes(width: int = 640, height: int = 480, noise: bool = False) -> bytes:
    image = (
        Image.effect_noise((width, height), 64).convert("RGB") if noise else Image.new("RGB", (width, height), "teal")
    )
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)
    return out.getvalue()


def bomb_png(side: int = 10_000) -> bytes:
    """A small file (a few kB) that decodes into side² pixels (100 million by default)."""
    out = io.BytesIO()
    Image.new("1", (side, side), 0).save(out, format="PNG", optimize=True)
    return out.getvalue()
