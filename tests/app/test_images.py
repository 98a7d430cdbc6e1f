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
