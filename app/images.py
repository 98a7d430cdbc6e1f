"""Checks of uploaded images with Pillow, from their headers, before anything is stored or enqueued.

The API never decodes an image's pixels: twelve 40-megapixel uploads at once would otherwise cost the API
process gigabytes. It reads each header (format and size, capped before anything is allocated) and checks
the file's structure where that is cheap (PNG chunk checksums, the end marker of a JPEG), so that a
truncated upload is refused here. The worker decodes, downscaled as it reads (see workers/jobs.py).
"""

from __future__ import annotations

import io
import re
import warnings

from PIL import Image

_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")
ACCEPTED_FORMATS = {"PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"}
# The EXIF orientation tag, and its values that turn the stored pixels a quarter: the image is shown (and
# stylised) upright, so its width and height swap. The worker applies the tag when it decodes.
ORIENTATION = 0x0112
TURNED = {5, 6, 7, 8}


class ImageRejected(ValueError):
    """An upload that is not a usable image; `status` is the HTTP code to answer with."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.status = field, message, status


def check_image(data: bytes, field: str, max_pixels: int) -> tuple[int, int]:
    """Return (width, height) of an image as shown (EXIF orientation applied), read from its header alone, or
    raise ImageRejected.

    The pixel count is capped *before* anything is decoded, so a decompression bomb (say a 30,000 x 30,000
    1-bit PNG of a few kilobytes) is refused without allocating its pixels.
    """
    if not data:
        raise ImageRejected(field, "the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ACCEPTED_FORMATS:
                raise ImageRejected(field, f"unsupported image format {image.format}", 415)
            width, height = image.size
            if orientation(image) in TURNED:  # a phone photo stored on its side: shown upright
                width, height = height, width
            if width * height > max_pixels:
                raise ImageRejected(
                    field, f"image of {width}x{height} pixels exceeds the limit of {max_pixels} pixels", 413
                )
            _check_structure(image, data)
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(field, f"image is too large to decode safely ({exc})", 413) from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageRejected(field, "not an image (the format is not recognised)") from exc
    except Exception as exc:  # Pillow raises many types for bad data: OSError, SyntaxError, ValueError...
        reason = _OBJECT_REPR.sub("the file", str(exc))  # Pillow names its buffer: <_io.BytesIO object at 0x...>
        raise ImageRejected(field, f"not a readable image ({type(exc).__name__}: {reason})") from exc
    if min(width, height) < 1:
        raise ImageRejected(field, "image has no pixels")
    return width, height


def orientation(image: Image.Image) -> int:
    """The EXIF orientation still to apply (1: none) from what opening the file has read: a JPEG's, WebP's or
    PNG's EXIF block. Nothing is decoded (a PNG's eXIf chunk after its pixels is not looked for)."""
    if image.format == "TIFF":
        return 1  # Pillow turns a TIFF upright itself: its size is the upright one, and so are its pixels
    try:
        exif = Image.Exif()
        exif.load(image.info.get("exif") or b"")
        value = exif.get(ORIENTATION, 1)
        return value if value in range(1, 9) else 1
    except Exception:  # a malformed EXIF block: the pixels are shown as stored, as most viewers do
        return 1


def _check_structure(image: Image.Image, data: bytes) -> None:
    """Catch truncated files without decoding pixels: PNG chunk CRCs up to IEND, a JPEG's end-of-image marker."""
    if image.format == "PNG":
        image.verify()  # walks the chunks and their checksums; decompresses nothing
    elif image.format == "JPEG" and not data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        raise ValueError("the JPEG data ends before its end-of-image marker (truncated?)")
