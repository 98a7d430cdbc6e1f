"""Upload checks: an unreadable file is refused with a message a user can read."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.images import ImageRejected, check_image


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 100, 50)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"hello, not an image", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not an image"),
        (_png()[:60], "not a readable image"),
        (b"", "empty"),
    ],
)
def test_unreadable_images_are_refused_without_object_reprs(data: bytes, words: str) -> None:
    with pytest.raises(ImageRejected) as caught:
        check_image(data, "style", 10**6)
    message = str(caught.value)
    assert message.startswith("style: ") and words in message and caught.value.status == 422
    assert " object at 0x" not in message and "<_io" not in message


def test_a_good_image_passes_and_the_pixel_cap_is_413() -> None:
    assert check_image(_png(), "content", 10**6) == (40, 30)
    with pytest.raises(ImageRejected) as caught:
        check_image(_png(), "content", 100)
    assert caught.value.status == 413 and "40x30" in str(caught.value)


def turned_jpeg(orientation: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """A JPEG stored `size` wide and high, whose EXIF orientation says how to show it (6: turn it a quarter)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.new("RGB", size, (90, 140, 200)).save(buf, format="JPEG", exif=exif.tobytes())
    return buf.getvalue()


@pytest.mark.parametrize(("orientation", "shown"), [(1, (64, 48)), (3, (64, 48)), (6, (48, 64)), (8, (48, 64))])
def test_the_size_is_the_upright_size(orientation: int, shown: tuple[int, int]) -> None:
    assert check_image(turned_jpeg(orientation), "content", 10**6) == shown
