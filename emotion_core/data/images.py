"""Image size checks before decoding: a small file must not expand into gigabytes of pixels.

OpenCV's `imdecode` allocates whatever the header asks for (an 875 KB PNG can
claim 30000x30000 pixels). Every decode of untrusted bytes (uploads, `predict`,
data sets) first reads the header with Pillow, which parses only the header,
and refuses unknown headers and too many pixels.
"""

from __future__ import annotations

import io
import warnings

MAX_PIXELS = 40_000_000  # a 40-megapixel photo; larger images are refused


class ImageRefused(ValueError):
    """The bytes are not an image we decode, or the image is too large; the message names it."""


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image header without decoding pixels; None when no known header
    (Pillow also refuses zero-sized images). ImageRefused when Pillow measures a decompression bomb."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                return im.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused("a decompression bomb") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        return None


def check_image_bytes(data: bytes, name: str = "image", max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """(width, height) when `data` may be decoded; ImageRefused otherwise (empty, unknown, too large)."""
    if not data:
        raise ImageRefused(f"{name} is empty (0 bytes).")
    try:
        size = header_size(data)
    except ImageRefused as bomb:
        raise ImageRefused(f"{name} is too large ({bomb}; limit {max_pixels:,} pixels).") from None
    if size is None:
        raise ImageRefused(f"{name} is not a readable image (PNG, JPEG, BMP or WebP expected).")
    width, height = size
    if width * height > max_pixels:
        raise ImageRefused(f"{name} is too large ({width}x{height} pixels; limit {max_pixels:,} pixels).")
    return width, height
