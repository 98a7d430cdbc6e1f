"""Tiles for high-resolution prints: the layout, the blending weights, the plan, and one tiny tiled run."""

from __future__ import annotations

import sys

import pytest
import torch
import torch.nn.functional as F

import models.nst.anchor as anchor_module
from models.nst import StyleConfig, imaging, stylize
from models.nst.anchor import ANCHOR_WEIGHT, AnchorLoss, pool_factor
from models.nst.config import StyleResult
from models.nst.plan import (
    MAX_PIECE_PIXELS,
    REFERENCE,
    Footprint,
    Scale,
    Unplannable,
    largest_size,
    peak_bytes,
    plan_job,
    schedule,
)
from models.nst.scales import plan as coarse_to_fine
from models.nst.stylize import plan_scales
from models.nst.tiled import MaskedContentLoss, MaskedStyleLoss, global_grams, masked_gram
from models.nst.tiles import ALIGN, grid_for, layer_masks, layout, spans
from models.nst.vgg import build_vgg, stride
from tests.models.nst.test_style import DEVICE, content_image, style_image

GB = 2**30


# ---------------------------------------------------------------- layout and weights


@pytest.mark.parametrize(("length", "count", "overlap", "halo"), [(1000, 4, 64, 8), (2048, 2, 96, 16), (97, 2, 16, 4)])
def test_spans_cover_the_axis_with_aligned_overlapping_tiles(length: int, count: int, overlap: int, halo: int) -> None:
    s = spans(length, count, overlap, halo)
    assert len(s) == count and s[0].start == 0 and s[-1].end == length
    lengths = [t.end - t.start for t in s]
    assert max(lengths) - min(lengths) < ALIGN  # even tiles
    for a, b in zip(s, s[1:], strict=False):
        assert b.start % ALIGN == 0 and a.end - b.start >= overlap  # aligned, and overlapping enough
    for a, c in zip(s, s[2:], strict=False):
        assert a.end <= c.start  # only neighbours overlap


def test_one_tile_is_the_whole_image() -> None:
    (only,) = layout(300, 500, 1, 1, 96, 16)
    assert only.window == (slice(0, 300), slice(0, 500))
    assert torch.equal(only.weight(), torch.ones(1, 1, 300, 500))


@pytest.mark.parametrize(("h", "w", "rows", "cols"), [(768, 1024, 3, 4), (1536, 2048, 2, 2), (72, 96, 2, 3)])
def test_blending_weights_are_a_partition_of_unity(h: int, w: int, rows: int, cols: int) -> None:
    overlap, halo = min(96, h // rows // 3), min(16, h // rows // 12)
    tiles = layout(h, w, rows, cols, overlap, halo)
    assert len(tiles) == rows * cols
    total = torch.zeros(1, 1, h, w)
    for t in tiles:
        weight = t.weight()
        assert weight.min() >= 0 and weight.max() <= 1
        t.crop(total).add_(weight)
    torch.testing.assert_close(total, torch.ones_like(total))


def test_a_tile_never_writes_its_halo() -> None:
    first, second = layout(64, 200, 1, 2, 48, 8)
    w = first.weight()[0, 0, 0]  # along x
    assert torch.all(w[first.x.end - 8 :] == 0)  # its last `halo` columns: context only
    assert torch.all(w[: second.x.start + 8] == 1)  # the neighbour's halo: this tile's alone
    assert torch.all(second.weight()[0, 0, 0, :8] == 0)


def test_reassembling_pointwise_ops_over_tiles_is_seam_free() -> None:
    image = torch.rand(1, 3, 200, 300)
    tiles = layout(200, 300, 2, 3, 32, 6)
    for op in (lambda t: t, lambda t: t * 0.5 + 0.25):
        out = torch.zeros_like(image)
        for t in tiles:
            t.crop(out).add_(t.weight() * op(t.crop(image)))  # each tile's result, weighted
        torch.testing.assert_close(out, op(image))


def test_the_grid_is_the_fewest_tiles_within_the_limit() -> None:
    assert grid_for(768, 1024, 1024 * 1024, 96, 16) == (1, 1)
    rows, cols = grid_for(1536, 2048, 1024 * 1024, 96, 16)  # type: ignore[misc]
    assert (rows, cols) == (2, 2)
    assert all(t.pixels <= 1024 * 1024 for t in layout(1536, 2048, rows, cols, 96, 16))
    assert grid_for(1536, 2048, 100, 96, 16) is None  # nothing that small can overlap by 96 px


def test_layer_masks_follow_each_layers_grid() -> None:
    t = layout(96, 200, 1, 2, 48, 8)[0]
    masks = layer_masks(t.weight(), {n: stride(n) for n in ("conv1_1", "conv3_1", "conv5_1")})
    h, w = t.y.end - t.y.start, t.x.end - t.x.start
    assert masks["conv1_1"].shape[-2:] == (h, w)
    assert masks["conv3_1"].shape[-2:] == (h // 4, w // 4)
    assert masks["conv5_1"].shape[-2:] == (h // 16, w // 16)


# ---------------------------------------------------------------- masked losses and global Grams


def test_masked_losses_with_a_full_mask_are_the_plain_ones() -> None:
    feats = torch.rand(2, 8, 6, 5)
    ones = torch.ones(1, 1, 6, 5)
    g = feats.reshape(2, 8, -1)
    torch.testing.assert_close(masked_gram(feats, ones), g @ g.transpose(1, 2) / 30)
    target = torch.rand(1, 8, 6, 5)
    assert float(MaskedContentLoss(target, ones)(target)[0]) == 0.0
    gram = masked_gram(feats[:1], ones)
    assert float(MaskedStyleLoss(gram, ones)(feats[:1])[0]) < 1e-10


def test_global_grams_from_tiles_match_the_whole_image() -> None:
    vgg = build_vgg("conv2_1", device=DEVICE)
    image = torch.rand(1, 3, 160, 224, device=DEVICE)
    whole = global_grams(vgg, image, ["conv1_1", "conv2_1"], "fp32", 10**6)
    tiled = global_grams(vgg, image, ["conv1_1", "conv2_1"], "fp32", 160 * 130, 32, 4)
    for name in whole:  # only the padding at the tiles' edges differs, and the weights hide it
        rel = float((whole[name] - tiled[name]).norm() / whole[name].norm())
        assert rel < 0.02, (name, rel)


# ---------------------------------------------------------------- the plan


def test_schedule_is_unchanged_up_to_the_reference() -> None:
    assert schedule(512, 3, 150, 0.25) == coarse_to_fine(512, 3, 150, 0.25) == [(128, 56), (256, 56), (512, 38)]
    assert schedule(96, 3, 40, 0.25) == coarse_to_fine(96, 3, 40, 0.25)


def test_the_default_job_at_512_px_is_three_untiled_scales() -> None:
    """The default job's work: 56 steps at 128 px, 56 at 256, 38 at 512, none in tiles (no anchor below 1024)."""
    config = StyleConfig()
    plan = plan_job((512, 384), plan_scales(config, (512, 384)), 4 * GB)
    assert [(s.size, s.steps, s.grid) for s in plan] == [
        ((128, 96), 56, None),
        ((256, 192), 56, None),
        ((512, 384), 38, None),
    ]


def test_larger_outputs_refine_the_reference_with_fewer_steps_at_each_doubling() -> None:
    s = schedule(2048, 3, 150, 0.25)
    assert s[:3] == schedule(REFERENCE, 3, 150, 0.25)  # the 512 px result first
    edges, steps = [e for e, _ in s[3:]], [n for _, n in s[3:]]
    assert edges == [1024, 2048] and steps == sorted(steps, reverse=True) and steps[-1] >= 1
    odd = [e for e, _ in schedule(3000, 3, 150, 0.25)][3:]
    assert odd[-1] == 3000 and all(b / a <= 2.01 for a, b in zip([REFERENCE, *odd], odd, strict=False))
    assert sum(n for _, n in schedule(2048, 3, 300, 0.25)[3:]) == 2 * sum(steps)  # in proportion to iterations


def test_a_scale_is_tiled_only_when_it_would_not_fit() -> None:
    steps = schedule(2048, 3, 150, 0.25)
    roomy = plan_job((2048, 1536), steps, None)
    assert [s.grid for s in roomy[:4]] == [None] * 4  # up to 1024 px in one piece
    assert roomy[-1].grid is not None and max(t.pixels for t in roomy[-1].tiles()) <= MAX_PIECE_PIXELS
    tight = plan_job((2048, 1536), steps, 3 * GB)
    for s in tight:
        piece = max(t.pixels for t in s.tiles())
        assert peak_bytes(2048 * 1536, piece, s.steps) <= 3 * GB
    assert len(tight[-1].tiles()) > len(roomy[-1].tiles())  # less memory, more and smaller tiles
    big_styles = plan_job((2048, 1536), steps, 3 * GB, Footprint(style_scale=4.0))  # a 16x larger style image
    assert big_styles[3].grid is not None  # its Gram targets no longer fit in one pass: in tiles too
    with pytest.raises(Unplannable, match="MB"):
        plan_job((4096, 3072), schedule(4096, 3, 150, 0.25), 1 * GB)


def test_largest_size_grows_with_memory() -> None:
    sizes = [largest_size(gb * GB, 16384) for gb in (2, 4, 8)]
    assert sizes == sorted(sizes) and sizes[0] >= 1024 and sizes[0] % 16 == 0
    assert largest_size(64 * GB, 4096) == 4096  # capped by the limit asked for
    assert largest_size(4 * GB, 16384, tiled=False) < sizes[1]  # a dream is not tiled


# ---------------------------------------------------------------- a tiny tiled run


def test_a_tiny_tiled_run_reports_every_tile_step_and_keeps_the_picture(monkeypatch: pytest.MonkeyPatch) -> None:
    content, style = content_image(96, 72), style_image()
    layers = {"style_layers": ["conv1_1", "conv2_1", "conv3_1"], "content_layers": ["conv3_2"]}
    cfg = StyleConfig(size=96, iterations=4, scales=1, preview_every=3, **layers)  # type: ignore[arg-type]
    whole = stylize(content, [style], cfg, device=DEVICE)

    def tiny_tiles(out_size, steps, budget, job=None):  # type: ignore[no-untyped-def]
        return [Scale(out_size, n, grid=(2, 2), overlap=16, halo=4) for _, n in steps]

    monkeypatch.setattr(sys.modules["models.nst.stylize"], "plan_job", tiny_tiles)
    seen: list = []
    tiled = stylize(content, [style], cfg, device=DEVICE, on_progress=seen.append)
    assert len(seen) == 4 * 4 and seen[-1].fraction == 1.0  # every step of each of the 4 tiles
    assert all(p.image.size == (96, 72) for p in seen if p.image is not None)  # previews show the whole image
    assert tiled.image.size == whole.image.size and tiled.metrics["iterations"] == 4
    assert tiled.metrics["scales"] == "96x72:4@2x2"
    # the same kind of picture as the untiled run: close in both loss terms
    assert _style_loss(tiled) < 3 * _style_loss(whole) + 0.05


def _style_loss(result: StyleResult) -> float:
    losses = result.metrics["losses"]  # the last step's loss terms
    assert isinstance(losses, dict)
    return losses["style"]


# ---------------------------------------------------------------- the anchor of refining scales


def test_the_anchor_sees_the_picture_at_the_reference_scale_and_not_the_detail() -> None:
    upsampled = torch.rand(1, 3, 32, 48)
    loss = AnchorLoss(upsampled, 4)
    assert float(loss(upsampled)[0]) < 1e-12
    checker = (torch.arange(32)[:, None] + torch.arange(48)[None, :]) % 2 * 0.2 - 0.1  # zero mean in each 4x4
    assert float(loss(upsampled + checker)[0]) < 1e-10  # detail finer than k pixels is free
    assert float(loss(upsampled * 0.8)[0]) == pytest.approx(0.04, rel=1e-3)  # the picture itself is held
    assert pool_factor(1024, 512) == 2 and pool_factor(2048, 512) == 4 and pool_factor(700, 512) == 1


def test_the_anchor_over_tiles_adds_up_to_the_whole_images() -> None:
    upsampled, x = torch.rand(1, 3, 96, 160), torch.rand(1, 3, 96, 160)
    whole = AnchorLoss(upsampled, 2)
    total = 0.0
    for t in layout(96, 160, 2, 2, 32, 4):
        part = AnchorLoss(t.crop(upsampled), 2, t.weight())
        total += float(part(t.crop(x))[0] * part.norm[0])  # the tile's weighted squared error
    assert total == pytest.approx(float(whole(x)[0] * whole.norm[0]), rel=1e-4)


def test_refining_scales_keep_the_reference_picture(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 48 px "reference" so that a 96 px run refines it, as a 2048 px print refines the 512 px result.
    for module in ("models.nst.plan", "models.nst.stylize"):
        monkeypatch.setattr(sys.modules[module], "REFERENCE", 48)
    content, style = content_image(96, 72), style_image()
    cfg = StyleConfig(size=96, iterations=20, scales=2, preview_every=20)  # the 20th step ends the reference
    drift = {}
    for weight in (0.0, ANCHOR_WEIGHT):
        monkeypatch.setattr(anchor_module, "ANCHOR_WEIGHT", weight)
        seen: list = []
        result = stylize(content, [style], cfg, device=DEVICE, on_progress=seen.append)
        assert result.metrics["scales"] == "48x36:20 96x72:2"  # the reference schedule, then one refining scale
        (reference,) = [p.image for p in seen if p.step == 20]
        held = imaging.to_tensor(reference)  # the anchor holds the 2 x 2 means to the reference's own pixels
        drift[weight] = float((F.avg_pool2d(imaging.to_tensor(result.image), 2) - held).abs().mean())
    assert drift[ANCHOR_WEIGHT] < 0.5 * drift[0.0], drift
