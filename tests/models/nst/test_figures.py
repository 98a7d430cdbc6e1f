"""The figures that judge the modes, on images whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from models.nst import figures
from models.nst.vgg import build_vgg


def _image(arr: np.ndarray) -> Image.Image:
    """(H, W) grey or (H, W, 3) RGB in 0..255 -> PIL."""
    arr = np.clip(arr, 0, 255).astype(np.uint8)
    return Image.fromarray(np.repeat(arr[..., None], 3, axis=2) if arr.ndim == 2 else arr, "RGB")


def _ramp(w: int = 64, h: int = 48) -> np.ndarray:
    """A smooth grey ramp, left dark to right bright, (H, W)."""
    return np.tile(np.linspace(40, 220, w), (h, 1))


def _checker(w: int = 64, h: int = 48, amplitude: float = 30) -> np.ndarray:
    """A pixel-period checkerboard around 0, (H, W)."""
    yy, xx = np.mgrid[0:h, 0:w]
    return amplitude * (((xx + yy) % 2) * 2 - 1)


def test_grey_correlation_of_an_image_with_itself_and_its_negative() -> None:
    ramp = _ramp() + 20 * np.sin(np.arange(48))[:, None]
    assert figures.grey_correlation(_image(ramp), _image(ramp)) == pytest.approx(1.0)
    assert figures.grey_correlation(_image(ramp), _image(255 - ramp)) == pytest.approx(-1.0, abs=1e-3)
    # the reference is resized to the result's size before comparing
    assert figures.grey_correlation(_image(ramp[::2, ::2]), _image(ramp)) > 0.99


def test_layout_correlation_tells_a_copy_from_a_texture() -> None:
    rng = np.random.default_rng(0)
    painting = _ramp(96, 64) + _checker(96, 64, 10)
    texture = 130 + 40 * rng.standard_normal((64, 96))  # the same kind of pixels, no layout
    assert figures.layout_correlation(_image(painting), _image(painting)) == pytest.approx(1.0)
    assert figures.layout_correlation(_image(painting[:, ::-1]), _image(painting)) < -0.9  # mirrored layout
    assert abs(figures.layout_correlation(_image(texture), _image(painting))) < 0.3


def test_mean_saturation_of_grey_and_of_pure_colour() -> None:
    assert figures.mean_saturation(_image(_ramp())) == 0.0
    red = np.zeros((8, 8, 3))
    red[..., 0] = 200
    assert figures.mean_saturation(_image(red)) == pytest.approx(1.0)


def test_high_frequency_energy_in_flat_regions_finds_a_checkerboard() -> None:
    photo = np.tile(np.linspace(150, 170, 48)[:, None], (1, 64))  # a sky: a faint vertical gradient
    photo[:, 40:] = 255 * (np.arange(48)[:, None] % 4 < 2)  # stripes on the right: not flat
    flat = figures.flat_mask(_image(photo), (64, 48))
    assert 0.2 < flat.mean() < 0.4 and flat[:, 40:].sum() == 0  # the flattest quarter (ties kept) is sky
    clean = figures.high_frequency_energy(_image(photo), flat)
    noisy = figures.high_frequency_energy(_image(photo + _checker()), flat)
    assert clean < 1.0 and noisy > 100 * max(clean, 1.0)


def test_mean_abs_difference_of_a_blob() -> None:
    base = _ramp()
    shape = np.zeros((48, 64))
    shape[10:40, 16:48] = 40  # one large blob
    assert figures.mean_abs_difference(_image(base + shape), _image(base)) == pytest.approx(
        40 * 30 * 32 / 64 / 48, 0.05
    )


def test_activation_and_style_rel_of_an_image_against_itself() -> None:
    vgg = build_vgg("conv5_1")
    image = _image(_ramp() + _checker())
    assert figures.mean_square_activation(vgg, image, "conv1_1") > figures.mean_square_activation(
        vgg, _image(_ramp()), "conv1_1"
    )
    assert figures.style_rel(vgg, image, image) == pytest.approx(0.0, abs=1e-4)
    assert figures.style_rel(vgg, _image(_ramp()), image) > 0.2
