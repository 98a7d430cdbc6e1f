"""Style transfer: schedule functions, modes, progress, cancel, seeds, options, sweeps, dream."""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from models.nst import Canceled, Progress, StyleConfig, StyleResult, resolve_device, stylize
from models.nst.scales import scale_sizes, split_iterations

# benchmarks/gpu_check.sh runs these tests on CUDA
DEVICE = os.environ.get("STYLEWAVE_TEST_DEVICE", "cpu")


def run(content: Image.Image | None, styles: list[Image.Image], config: StyleConfig, **kwargs: Any) -> StyleResult:
    return stylize(content, styles, config, device=DEVICE, **kwargs)


def content_image(w: int = 64, h: int = 48) -> Image.Image:
    """A synthetic 'photo': a sky-to-ground gradient with a few shapes."""
    y = np.linspace(0, 1, h)[:, None, None]
    x = np.linspace(0, 1, w)[None, :, None]
    arr = np.concatenate([0.3 + 0.5 * y + 0 * x, 0.6 - 0.3 * y + 0.2 * x, 0.9 - 0.7 * y + 0 * x], axis=2)
    im = Image.fromarray((arr * 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    draw.ellipse((w // 5, h // 4, w // 2, h * 3 // 4), fill=(200, 40, 40))
    draw.rectangle((w * 3 // 5, h // 3, w * 9 // 10, h * 9 // 10), fill=(30, 90, 30))
    return im


def style_image(w: int = 56, h: int = 40, seed: int = 0) -> Image.Image:
    """A synthetic 'painting': diagonal yellow/blue strokes."""
    yy, xx = np.mgrid[0:h, 0:w]
    stripes = (np.sin((xx + yy) / 2.5 + seed) > 0)[..., None]
    arr = np.where(stripes, [240, 210, 40], [20, 40, 160]).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def grey_corr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a.convert("L").resize(b.size), dtype=float).ravel()
    y = np.asarray(b.convert("L"), dtype=float).ravel()
    return float(np.corrcoef(x, y)[0, 1])


def same(a: Image.Image, b: Image.Image) -> bool:
    """Byte-identical on the CPU; within rounding on CUDA, whose convolutions may sum in any order."""
    if DEVICE == "cpu":
        return png_bytes(a) == png_bytes(b)
    return a.size == b.size and float(np.abs(np.asarray(a, float) - np.asarray(b, float)).mean()) < 1.0


def png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


# ---------------------------------------------------------------- schedule


def test_scale_sizes_are_geometric_and_end_at_size() -> None:
    assert scale_sizes(512, 1) == [512]
    assert scale_sizes(512, 3) == [128, 256, 512]
    assert scale_sizes(96, 3) == [64, 78, 96]  # never below the minimum, still increasing
    assert scale_sizes(40, 3) == [40]  # too small to coarsen
    with pytest.raises(ValueError):
        scale_sizes(512, 0)


def test_split_iterations_sums_to_total() -> None:
    assert split_iterations(100, 1) == [100]
    parts = split_iterations(101, 3, final_share=0.5)
    assert sum(parts) == 101 and parts[-1] == 50 and parts[0] >= parts[1] >= 1


def test_resolve_device() -> None:
    assert resolve_device("auto") in ("cpu", "cuda")
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError):
        resolve_device("tpu")


# ---------------------------------------------------------------- modes


def test_content_reconstruction_from_conv1_1_is_close() -> None:
    content = content_image()
    cfg = StyleConfig(mode="content", size=64, iterations=50, content_layers=["conv1_1"])
    result = run(content, [], cfg)
    assert result.image.size == (64, 48)
    assert grey_corr(result.image, content) > 0.9


def test_transfer_keeps_size_and_moves_toward_style() -> None:
    content, style = content_image(), style_image()
    cfg = StyleConfig(size=40, iterations=12, style_weight=100.0)
    result = run(content, [style], cfg)
    assert result.image.size == (40, 30)  # longest edge = size, aspect kept
    out = np.asarray(result.image, dtype=float)
    ref = np.asarray(content.resize(result.image.size), dtype=float)
    assert np.abs(out - ref).mean() > 5  # it changed
    assert grey_corr(result.image, content) > 0.2  # but kept the structure
    assert result.metrics["iterations"] == 12 and isinstance(result.metrics["iterations"], int)
    losses = result.metrics["losses"]
    assert isinstance(losses, dict) and losses["style"] >= 0 and set(losses) >= {"content", "style", "total"}
    assert result.tiles == []


def test_style_mode_needs_no_content_and_takes_style_aspect() -> None:
    result = run(None, [style_image(60, 30)], StyleConfig(mode="style", size=40, iterations=10))
    assert result.image.size == (40, 20)


@pytest.mark.skipif(DEVICE != "cpu", reason="byte-identical results are promised on the CPU")
def test_same_seed_gives_identical_png() -> None:
    cfg = StyleConfig(mode="style", size=32, iterations=6, seed=7)
    a = run(None, [style_image()], cfg).image
    b = run(None, [style_image()], cfg).image
    c = run(None, [style_image()], StyleConfig(mode="style", size=32, iterations=6, seed=8)).image
    assert png_bytes(a) == png_bytes(b)
    assert png_bytes(a) != png_bytes(c)


def test_adam_lowers_the_loss() -> None:
    seen: list[Progress] = []
    cfg = StyleConfig(
        mode="content", size=32, iterations=15, optimizer="adam", learning_rate=0.05, content_layers=["conv2_1"]
    )
    run(content_image(), [], cfg, on_progress=seen.append)
    assert seen[-1].losses["total"] < 0.5 * seen[0].losses["total"]


# ---------------------------------------------------------------- progress, cancel, validation


def test_progress_reports_every_step_with_previews() -> None:
    seen: list[Progress] = []
    cfg = StyleConfig(size=32, iterations=6, preview_every=3)
    run(content_image(), [style_image()], cfg, on_progress=seen.append)
    assert [p.step for p in seen] == [1, 2, 3, 4, 5, 6] and all(p.total == 6 for p in seen)
    assert [p.image is not None for p in seen] == [False, False, True, False, False, True]
    assert {"content", "style", "total"} <= set(seen[0].losses)


def test_should_stop_cancels_within_one_iteration() -> None:
    seen: list[Progress] = []
    cfg = StyleConfig(size=32, iterations=50)
    with pytest.raises(Canceled):
        run(content_image(), [style_image()], cfg, on_progress=seen.append, should_stop=lambda: len(seen) >= 3)
    assert len(seen) == 3


@pytest.mark.parametrize(
    ("kwargs", "content", "styles", "match"),
    [
        ({"style_layers": ["conv9_9"]}, True, True, "conv9_9"),
        ({"content_layers": ["pool7"]}, True, True, "pool7"),
        ({}, False, True, "content image"),
        ({}, True, False, "style image"),
        ({"mode": "paint"}, True, True, "mode"),
        ({"size": -5}, True, True, "size"),
        ({"optimizer": "sgd"}, True, True, "optimizer"),
        ({"style_blend": [1.0, 2.0]}, True, True, "style_blend"),
        ({"sweep_style_layers": [["conv1_1"], ["conv6_1"]]}, True, True, "conv6_1"),
        ({"layer_weights": {"conv1_9": 1.0}}, True, True, "conv1_9"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict, content: bool, styles: bool, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        run(
            content_image() if content else None,
            [style_image()] if styles else [],
            StyleConfig(**{"size": 32, "iterations": 2, "scales": 1, **kwargs}),
        )


# ---------------------------------------------------------------- issue 5 options


def test_coarse_to_fine_starts_small_and_ends_at_size() -> None:
    seen: list[Progress] = []
    cfg = StyleConfig(size=80, iterations=6, scales=2, preview_every=1, style_layers=["conv1_1", "conv3_1"])
    result = run(content_image(), [style_image()], cfg, on_progress=seen.append)
    assert result.image.size == (80, 60)
    assert len(seen) == 6 and seen[-1].step == 6
    assert seen[0].image is not None and seen[0].image.width == 64  # the first scale is coarser
    assert seen[-1].image is not None and seen[-1].image.size == (80, 60)


def test_style_blend_weights_select_the_styles() -> None:
    content, a, b = content_image(), style_image(seed=0), style_image(seed=0).rotate(90, expand=True)
    cfg = StyleConfig(size=32, iterations=5)
    only_a = run(content, [a], cfg).image
    blend_a = run(content, [a, b], StyleConfig(size=32, iterations=5, style_blend=[2.0, 0.0])).image
    half = run(content, [a, b], StyleConfig(size=32, iterations=5, style_blend=[1.0, 1.0])).image
    assert same(only_a, blend_a)
    assert not same(half, only_a)


def _chroma(im: Image.Image) -> np.ndarray:
    """YIQ I and Q channels."""
    rgb = np.asarray(im, dtype=float) / 255.0
    i = rgb @ np.array([0.596, -0.274, -0.322])
    q = rgb @ np.array([0.211, -0.523, 0.312])
    return np.stack([i, q])


def test_preserve_colors_keeps_the_content_chrominance() -> None:
    content, style = content_image(), style_image()
    cfg = {"size": 40, "iterations": 6, "style_weight": 100.0, "style_layers": ["conv1_1", "conv2_1"]}
    kept = run(content, [style], StyleConfig(**cfg, preserve_colors=True)).image
    free = run(content, [style], StyleConfig(**cfg)).image
    ref = _chroma(content.resize(kept.size, Image.Resampling.LANCZOS))
    err_kept = np.abs(_chroma(kept) - ref).mean()
    err_free = np.abs(_chroma(free) - ref).mean()
    assert err_kept < 0.02 and err_kept < 0.5 * err_free


def test_preserve_colors_holds_for_every_tile_of_a_sweep() -> None:
    content, style = content_image(), style_image()
    cfg = StyleConfig(size=40, iterations=4, preserve_colors=True, sweep_style_weights=[1.0, 100.0])
    tiles = run(content, [style], cfg).tiles
    assert len(tiles) == 2
    for _, tile in tiles:
        ref = _chroma(content.resize(tile.size, Image.Resampling.LANCZOS))
        assert np.abs(_chroma(tile) - ref).mean() < 0.02


def _tv(im: Image.Image) -> float:
    a = np.asarray(im, dtype=float)
    return float(np.abs(np.diff(a, axis=0)).mean() + np.abs(np.diff(a, axis=1)).mean())


def test_tv_weight_smooths_the_output() -> None:
    cfg = {"mode": "style", "size": 32, "iterations": 8, "seed": 1, "style_layers": ["conv1_1", "conv2_1"]}
    rough = run(None, [style_image()], StyleConfig(**cfg)).image
    smooth = run(None, [style_image()], StyleConfig(**cfg, tv_weight=50.0)).image
    assert _tv(smooth) < 0.8 * _tv(rough)


def test_zero_layer_weight_equals_leaving_the_layer_out() -> None:
    base = {"size": 32, "iterations": 5}
    a = run(
        content_image(),
        [style_image()],
        StyleConfig(**base, style_layers=["conv1_1", "conv2_1"], layer_weights={"conv1_1": 0.0}),
    ).image
    b = run(content_image(), [style_image()], StyleConfig(**base, style_layers=["conv2_1"])).image
    c = run(content_image(), [style_image()], StyleConfig(**base, style_layers=["conv1_1", "conv2_1"])).image
    assert same(a, b)
    assert not same(a, c)


@pytest.mark.parametrize("option", [{"pooling": "avg"}, {"style_scale": 0.5}, {"init": "style"}])
def test_options_change_the_result(option: dict) -> None:
    base = {"size": 32, "iterations": 5, "style_layers": ["conv1_1", "conv3_1"]}
    a = run(content_image(), [style_image()], StyleConfig(**base)).image
    b = run(content_image(), [style_image()], StyleConfig(**base, **option)).image
    assert a.size == b.size and not same(a, b)


def test_sweep_of_four_style_weights_is_a_labelled_2x2_grid() -> None:
    cfg = StyleConfig(size=32, iterations=8, sweep_style_weights=[1.0, 10.0, 100.0, 1000.0])
    result = run(content_image(), [style_image()], cfg)
    assert [label for label, _ in result.tiles] == ["beta=1", "beta=10", "beta=100", "beta=1000"]
    tile = result.tiles[0][1]
    assert tile.size == (32, 24)
    assert result.image.width < 3 * tile.width and result.image.width > 2 * tile.width  # two columns
    assert result.image.height > 2 * tile.height  # two rows (plus labels)
    # the label strip under the first tile holds dark text pixels
    strip = np.asarray(result.image.convert("L"))[4 + 24 : 4 + 24 + 16, 4:36]
    assert strip.min() < 100
    # more style weight, further from the content (each tile has its own L-BFGS history)
    dist = [
        np.abs(np.asarray(t, dtype=float) - np.asarray(content_image().resize(t.size), dtype=float)).mean()
        for _, t in result.tiles
    ]
    assert dist[2] > dist[0]


def test_sweep_over_layer_stacks() -> None:
    stacks = [["conv1_1"], ["conv1_1", "conv2_1"], ["conv1_1", "conv2_1", "conv3_1"]]
    cfg = StyleConfig(mode="style", size=32, iterations=3, sweep_style_layers=stacks)
    result = run(None, [style_image()], cfg)
    assert [label for label, _ in result.tiles] == ["conv1_1", "conv1_1,conv2_1", "conv1_1..conv3_1"]
    assert len({png_bytes(t) for _, t in result.tiles}) == 3


def test_dream_returns_an_amplified_image() -> None:
    seen: list[Progress] = []
    content = content_image()
    cfg = StyleConfig(mode="dream", size=48, iterations=6, scales=2, content_layers=["conv3_1"])
    result = run(content, [], cfg, on_progress=seen.append)
    assert result.image.size == (48, 36) and len(seen) == 6
    assert seen[-1].losses["activation"] > seen[0].losses["activation"]
    assert grey_corr(result.image, content) > 0.3
    with pytest.raises(Canceled):
        run(content, [], cfg, should_stop=lambda: True)


def _lazy_png(image: Image.Image) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return Image.open(io.BytesIO(buf.getvalue()))  # not decoded yet, as the worker hands it over


def test_large_inputs_are_decoded_straight_to_the_working_size() -> None:
    from models.nst import imaging
    from models.nst.stylize import prepare

    content = _lazy_png(content_image(1600, 1200))
    styles = [_lazy_png(style_image(1200, 1200)), _lazy_png(style_image(300, 20))]
    prepared = prepare(StyleConfig(size=32), content, styles, "cpu", None)
    assert prepared.out_size == (32, 24)
    assert prepared.content is not None and tuple(prepared.content.shape[-2:]) == (24, 32)
    h, w = prepared.styles[0].shape[-2:]
    assert abs(h * w - 32 * 24) < 40 and abs(h - w) <= 1  # the output's pixel count (style_scale 1), square
    assert min(prepared.styles[1].shape[-2:]) >= 16  # a narrow style is kept wide enough for conv5_1
    jpeg = io.BytesIO()
    content_image(1600, 1200).save(jpeg, format="JPEG")
    drafted = Image.open(io.BytesIO(jpeg.getvalue()))
    assert imaging.shrink(drafted, (40, 30)).size == (40, 30)
    assert drafted.size[0] <= 1600 // 8 * 2  # JPEG decoded at a reduced scale (draft), not at full size


def test_a_cancel_is_seen_while_the_inputs_are_prepared() -> None:
    from models.nst.stylize import prepare

    asked = []

    def stop() -> bool:
        asked.append(True)
        return len(asked) >= 2  # after the content image, before the first style

    with pytest.raises(Canceled):
        prepare(StyleConfig(size=32), _lazy_png(content_image()), [_lazy_png(style_image())] * 3, "cpu", None, stop)


def test_too_small_an_output_for_the_layers_is_a_clear_error_and_narrow_scales_are_skipped() -> None:
    with pytest.raises(ValueError, match="conv5_1 needs 16 px"):
        run(content_image(64, 48), [style_image()], StyleConfig(size=16, iterations=2))
    out = run(content_image(200, 40), [style_image()], StyleConfig(size=80, iterations=4, scales=3))
    assert out.image.size == (80, 16)
