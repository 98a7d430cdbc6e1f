"""The modes' own defaults and what they are for: a dream that keeps the picture, textures without the
painting's layout, reconstructions without pixel noise. Each figure of benchmarks/modes.py, on small images."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from models.nst import Mode, StyleConfig, StyleResult, figures, stylize
from models.nst.dream import activation_gain
from models.nst.modes import MODE_DEFAULTS
from models.progress import Progress

DEVICE = os.environ.get("STYLEWAVE_TEST_DEVICE", "cpu")


def run(content: Image.Image | None, styles: list[Image.Image], **fields: Any) -> StyleResult:
    return stylize(content, styles, StyleConfig(**fields), device=DEVICE)


def photo(w: int = 96, h: int = 72) -> Image.Image:
    """A small 'photo': a flat sky over a row of houses with windows, and a river."""
    y = np.linspace(0, 1, h)[:, None, None]
    sky = np.concatenate([110 + 40 * y, 150 + 40 * y, 220 + 20 * y], axis=2) * np.ones((1, w, 1))
    im = Image.fromarray(sky.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    for i, colour in enumerate([(220, 180, 90), (230, 230, 220), (200, 120, 110), (240, 200, 60)]):
        x0 = w // 10 + i * w // 5
        draw.rectangle((x0, h // 3, x0 + w // 6, h * 2 // 3), fill=colour)
        draw.polygon([(x0, h // 3), (x0 + w // 12, h // 5), (x0 + w // 6, h // 3)], fill=(150, 50, 40))
        for wy in (h * 2 // 5, h // 2):
            draw.rectangle((x0 + 3, wy, x0 + 6, wy + 4), fill=(40, 40, 50))
    draw.rectangle((0, h * 2 // 3, w, h), fill=(50, 70, 60))
    return im


def ramp_painting(w: int = 96, h: int = 64) -> Image.Image:
    """A 'painting' with a layout: yellow/blue strokes lit from dark (left) to bright (right)."""
    yy, xx = np.mgrid[0:h, 0:w]
    strokes = (np.sin((xx + 2 * yy) / 2.0) > 0)[..., None]
    light = (0.15 + 0.85 * (xx / w) * (1 - 0.5 * yy / h))[..., None]
    arr = np.where(strokes, [250, 220, 80], [60, 110, 230]) * light
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB")


# ---------------------------------------------------------------- defaults per mode


def test_unset_fields_take_the_modes_defaults_and_set_ones_win() -> None:
    dream = StyleConfig(mode="dream")
    d = MODE_DEFAULTS[Mode.dream]
    assert (dream.scales, dream.iterations, dream.content_layers) == (d.scales, d.iterations * d.scales, ["conv4_2"])
    assert StyleConfig(mode="dream", scales=2).iterations == 2 * d.iterations  # steps per octave
    assert StyleConfig(mode="dream", iterations=7).iterations == 7
    assert StyleConfig(mode="content").tv_weight > 0 and StyleConfig(mode="content", tv_weight=0).tv_weight == 0
    assert StyleConfig(mode="style").coarse_style_scale > 1
    transfer = StyleConfig()
    assert (transfer.iterations, transfer.scales, transfer.tv_weight, transfer.coarse_style_scale) == (150, 3, 0, 1)


# ---------------------------------------------------------------- dream


@pytest.fixture(scope="module")
def dreams() -> dict[float, StyleResult]:
    """The default dream of a small photo (4 octaves, 64 -> 96 px) at three strengths."""
    return {s: run(photo(), [], mode="dream", size=96, dream_strength=s) for s in (0.25, 1.0, 4.0)}


def test_default_dream_keeps_the_picture_and_amplifies_its_layer(dreams: dict[float, StyleResult]) -> None:
    content, result = photo(), dreams[1.0]
    base = content.resize(result.image.size, Image.Resampling.LANCZOS)
    assert figures.grey_correlation(result.image, content) >= 0.8
    assert figures.mean_saturation(result.image) <= figures.mean_saturation(base) + 0.1
    assert result.metrics["activation_gain"] >= 2
    assert result.metrics["iterations"] == StyleConfig(mode="dream").iterations


def test_dream_strength_scales_the_dream(dreams: dict[float, StyleResult]) -> None:
    base = photo().resize(dreams[1.0].image.size, Image.Resampling.LANCZOS)
    change = [figures.mean_abs_difference(dreams[s].image, base) for s in (0.25, 1.0, 4.0)]
    gain = [float(dreams[s].metrics["activation_gain"]) for s in (0.25, 1.0, 4.0)]
    assert change[0] < change[1] < change[2] and change[2] > 1.5 * change[1]
    assert gain[0] < gain[1] < gain[2]
    assert figures.grey_correlation(dreams[4.0].image, base) >= 0.5


def test_activation_gain_is_one_for_the_content_itself() -> None:
    from models.nst import imaging
    from models.nst.vgg import build_vgg

    x = imaging.to_tensor(photo(48, 36))
    assert activation_gain(build_vgg("conv3_1"), x, x, "conv3_1") == pytest.approx(1.0)


def test_dream_sweep_is_one_labelled_grid_of_single_dreams() -> None:
    content = photo(64, 48)
    layers = ["conv2_1", "conv3_1", "conv4_1", "conv5_1"]
    result = run(content, [], mode="dream", size=64, scales=1, iterations=6, sweep_content_layers=layers)
    assert [label for label, _ in result.tiles] == layers
    assert result.metrics["iterations"] == 4 * 6
    tile = result.tiles[0][1]
    assert tile.size == (64, 48) and 2 * tile.width < result.image.width < 3 * tile.width  # 2x2
    alone = run(content, [], mode="dream", size=64, scales=1, iterations=6, content_layers=["conv3_1"])
    if DEVICE == "cpu":
        assert alone.image.tobytes() == result.tiles[1][1].tobytes()  # a tile is the dream of its layer


def test_dream_sweep_progress_weighs_each_step_by_its_pixels() -> None:
    seen: list[Progress] = []
    config = StyleConfig(mode="dream", size=96, scales=2, iterations=4, sweep_content_layers=["conv2_1", "conv3_1"])
    stylize(photo(), [], config, device=DEVICE, on_progress=seen.append)  # octaves at 69 and 96 px
    fractions = [p.fraction for p in seen]
    assert [p.step for p in seen] == list(range(1, 9)) and seen[-1].total == 8
    assert fractions == sorted(fractions) and fractions[3] == pytest.approx(0.5) and fractions[-1] == 1.0
    assert fractions[0] < 1 / 8  # a step of the coarse octave costs less than one of the full size


# ---------------------------------------------------------------- texture synthesis


def test_texture_synthesis_does_not_copy_the_paintings_layout() -> None:
    painting = ramp_painting()
    common = {"mode": "style", "size": 128, "iterations": 30, "scales": 2}  # 64 -> 128 px
    texture = run(None, [painting], **common).image
    # before: the style at each scale's own size, so the coarse scale's deep Gram matrices hold its layout
    copy = run(None, [painting], **common, coarse_style_scale=1.0, final_share=0.25).image
    assert figures.layout_correlation(texture, painting) <= 0.3
    assert figures.layout_correlation(copy, painting) >= figures.layout_correlation(texture, painting) + 0.4


# ---------------------------------------------------------------- content reconstruction


def test_content_reconstruction_has_no_pixel_noise_in_flat_regions() -> None:
    content = photo()
    fields = {"mode": "content", "size": 96, "iterations": 60, "content_layers": ["conv2_2"]}
    clean = run(content, [], **fields).image
    noisy = run(content, [], **fields, tv_weight=0.0).image
    flat = figures.flat_mask(content, clean.size)
    assert figures.high_frequency_energy(clean, flat) < 0.2 * figures.high_frequency_energy(noisy, flat)
    assert figures.grey_correlation(clean, content) >= 0.95
