"""Neural style transfer (Gatys, Ecker & Bethge 2015): optimise pixels to match VGG-19 statistics.

`stylize` is the one entry point, in four named steps: `prepare` the inputs and the network, `plan_scales`
(the coarse-to-fine schedule of `scales.py`), `run_chunk` for each batch of sweep tiles, and `assemble` the
result. The objective (`objective.py`) is a weighted sum of small per-layer losses (`losses.py`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from models.nst import imaging
from models.nst.anchor import Anchored, AnchorLoss, pool_factor
from models.nst.config import Metrics, StyleConfig, StyleResult, check, resolve_device, resolve_precision
from models.nst.dream import dream
from models.nst.modes import Init, Mode
from models.nst.objective import Variant, build_objective, needed_layers, variants
from models.nst.optim import optimize
from models.nst.plan import REFERENCE, Footprint, Scale, check_whole, plan_job, schedule, step_costs
from models.nst.tiled import preview_image, run_scale
from models.nst.vgg import VGG19Features, build_vgg, deepest, min_edge
from models.progress import OnProgress, ShouldStop, Tracker

__all__ = ["StyleConfig", "StyleResult", "stylize", "prepare", "plan_scales", "run_chunk", "assemble"]

Schedule = list[tuple[int, int]]  # (longest edge, steps) per scale, coarse to fine


def stylize(
    content: Image.Image | None,
    styles: list[Image.Image],
    config: StyleConfig,
    *,
    device: str = "cpu",
    weights_path: str | None = None,
    on_progress: OnProgress | None = None,
    should_stop: ShouldStop | None = None,
    memory_bytes: int | None = None,
) -> StyleResult:
    """Run one style job: transfer, content or style reconstruction, dream, or a sweep grid.

    `preserve_colors` does both halves of Gatys et al. (2016), "Preserving Color in Neural Artistic Style
    Transfer": colour matching first (each style image is re-coloured to the content's RGB mean and
    covariance before its Gram targets are taken, so the optimisation works in the content's palette),
    then luminance-only transfer on the result (the output keeps its own YIQ luminance and takes the
    content's I/Q chrominance exactly). `memory_bytes` bounds the memory the job plans for (`plan.py`:
    scales that would not fit run in tiles). Raises ValueError for bad arguments (`plan.Unplannable` when
    the job cannot fit `memory_bytes`), Canceled when stopped.
    """
    check(config, content, styles)
    dev = resolve_device(device)
    config = replace(config, precision=resolve_precision(config.precision, dev))
    if config.mode is Mode.dream:
        assert content is not None  # check() made sure
        check_whole(imaging.fit_size(*content.size, config.size), memory_bytes)
        return dream(
            content, config, device=dev, weights_path=weights_path, on_progress=on_progress, should_stop=should_stop
        )
    started = time.perf_counter()
    prepared = prepare(config, content, styles, dev, weights_path, should_stop)
    chunks, scales = _plan(prepared, memory_bytes)
    total = sum(s.tile_steps() for s in scales) * len(chunks)
    tracker = Tracker(total, on_progress, should_stop, config.preview_every, step_costs(scales) * len(chunks))
    runs = [run_chunk(prepared, chunk, scales, tracker) for chunk in chunks]  # [(images, seconds at full size)]
    fine_seconds = sum(seconds for _, seconds in runs) / (scales[-1].steps * len(chunks))
    images = torch.cat([x for x, _ in runs])  # (B, 3, H, W): every variant of the sweep, in order
    result = assemble(prepared, images, tracker, started, fine_seconds)
    result.metrics.update(iterations=sum(s.steps for s in scales) * len(chunks), scales=_describe(scales))
    return result


def _plan(prepared: Prepared, memory_bytes: int | None) -> tuple[list[list[Variant]], list[Scale]]:
    """The sweep's variants in batches small enough to run together, and the scales each batch runs through."""
    batch = prepared.variants
    per_chunk = _chunk_size(len(batch), prepared.out_size, prepared.device)
    job = Footprint(per_chunk, len(prepared.styles), prepared.config.style_scale)
    scales = plan_job(prepared.out_size, plan_scales(prepared.config, prepared.out_size), memory_bytes, job)
    return [batch[i : i + per_chunk] for i in range(0, len(batch), per_chunk)], scales


@dataclass
class Prepared:
    """A style job ready to run: the resolved config, the network and the full-size input tensors."""

    config: StyleConfig
    device: str
    generator: torch.Generator  # seeded: the noise start image
    variants: list[Variant]
    out_size: tuple[int, int]  # (W, H)
    vgg: VGG19Features
    content: torch.Tensor | None  # (1, 3, H, W)
    styles: list[torch.Tensor]  # each (1, 3, H', W'), colour-matched to the content with preserve_colors


def prepare(
    config: StyleConfig,
    content: Image.Image | None,
    styles: list[Image.Image],
    device: str,
    weights_path: str | None,
    should_stop: ShouldStop | None = None,
) -> Prepared:
    """Seed, variants, output size, VGG truncated after the deepest layer needed, and the input tensors.

    Each image is brought down to the largest size the run uses (`working_sizes`) before it becomes a
    tensor, one at a time, and `should_stop` is polled between them: a large upload costs its 8-bit pixels
    once, and a cancel is seen before the first iteration.
    """
    stop = Tracker(should_stop=should_stop)
    generator = torch.Generator().manual_seed(config.seed if config.seed is not None else torch.seed())
    batch = variants(config)
    out_size = _output_size(config, content, styles)
    check_output_size(out_size, needed_layers(config, batch), config.size)
    content_size, style_sizes = working_sizes(config, out_size, content, styles)
    content_t = None
    if content is not None:
        stop.check()
        content_t = imaging.to_tensor(imaging.shrink(content, content_size), device=device)  # (1, 3, H, W)
    style_ts = []
    for style, size in zip(styles, style_sizes, strict=True):
        stop.check()
        style_ts.append(imaging.to_tensor(imaging.shrink(style, size), device=device))  # (1, 3, H', W')
    if config.preserve_colors and content_t is not None:
        # Colour matching (Gatys et al. 2016): style images take the content's colour statistics first.
        style_ts = [imaging.match_colors(s, content_t) for s in style_ts]
    stop.check()
    vgg = build_vgg(deepest(needed_layers(config, batch)), config.pooling, weights_path, device)
    return Prepared(config, device, generator, batch, out_size, vgg, content_t, style_ts)


def working_sizes(
    config: StyleConfig, out_size: tuple[int, int], content: Image.Image | None, styles: list[Image.Image]
) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """The largest (W, H) each input is used at: the content at the output size, each style at `style_scale`
    times the output's pixel count (`_scaled_inputs` at the finest scale); never more than the image has."""
    content_size = out_size if content is not None else (0, 0)
    style_px = out_size[0] * out_size[1] * config.style_scale**2
    edge = min_edge(deepest([n for v in variants(config) for n in v.style_layers]))
    style_sizes = [imaging.at_least(imaging.pixels_size(*s.size, style_px), edge) for s in styles]
    return content_size, style_sizes


def plan_scales(config: StyleConfig, out_size: tuple[int, int] | None = None) -> Schedule:
    """(longest edge, steps) per scale; fewer steps than scales drops the coarsest, and so do scales whose
    short edge is too small for the deepest layer the objective reads (given the output's aspect)."""
    min_size = 0
    if out_size is not None:
        edge = min_edge(deepest(needed_layers(config, variants(config))))
        min_size = math.ceil(edge * max(out_size) / min(out_size))
    return schedule(config.size, config.scales, config.iterations, config.final_share, min_size=min_size)


def run_chunk(
    prepared: Prepared, chunk: list[Variant], scales: list[Scale], tracker: Tracker
) -> tuple[torch.Tensor, float]:
    """Optimise one batch of variants through every scale: the images (B, 3, H, W), seconds at full size."""
    config = prepared.config
    x: torch.Tensor | None = None
    reference: torch.Tensor | None = None  # the result at the reference size, which larger scales keep (anchor.py)
    fine_seconds = 0.0
    for scale in scales:
        size = scale.size
        content, styles = _scaled_inputs(prepared, size)
        if x is None:
            x = _initial(config, size, len(chunk), content, styles, prepared.generator, prepared.device)
        else:
            x = imaging.resize(x, size).clamp(0, 1)  # (B, 3, H, W) the coarse result starts this scale
        anchor = _anchor(reference, size)
        t0 = time.perf_counter()
        if scale.grid is not None:  # too large for memory in one piece: overlapping tiles (tiled.py)
            x = run_scale(scale, x, config, prepared.vgg, chunk, content, styles, tracker, _render, anchor)
        else:
            plain = build_objective(config, prepared.vgg, chunk, content, styles)
            objective: nn.Module = plain if anchor is None else Anchored(plain, AnchorLoss(*anchor))
            x = optimize(x, objective, scale.steps, config.optimizer, tracker, config.learning_rate, _render)
        fine_seconds = time.perf_counter() - t0  # the last scale's is the one kept
        if max(size) <= REFERENCE:
            reference = x.detach()
    assert x is not None
    return x.clamp(0, 1), fine_seconds


def assemble(
    prepared: Prepared, out: torch.Tensor, tracker: Tracker, started: float, fine_seconds_per_step: float
) -> StyleResult:
    """The output image (B, 3, H, W) -> the result: one image, or the labelled sweep grid and its tiles."""
    config, content = prepared.config, prepared.content
    if config.preserve_colors and content is not None:
        # Luminance-only transfer on top: the output keeps exactly the content's chrominance (YIQ).
        out = imaging.luminance_transfer(out, imaging.resize(content, (out.shape[-1], out.shape[-2])))
    seconds = time.perf_counter() - started
    metrics: Metrics = {"losses": dict(tracker.losses)}  # the last step's, as in the last progress report
    metrics.update(
        seconds=seconds,
        iterations=tracker.step,
        device=prepared.device,
        precision=config.precision.value,
        seconds_per_iteration=seconds / max(1, tracker.step),
        seconds_per_iteration_full_size=fine_seconds_per_step,
        width=int(out.shape[-1]),
        height=int(out.shape[-2]),
    )
    images = [imaging.to_image(t) for t in out]
    if len(prepared.variants) == 1:
        return StyleResult(images[0], [], metrics)
    tiles = [(v.label, im) for v, im in zip(prepared.variants, images, strict=True)]
    # Both swept: layer stacks as rows, weights as columns; one swept: a near-square grid (4 -> 2x2).
    both = bool(config.sweep_style_weights and config.sweep_style_layers)
    columns = len(config.sweep_style_weights or []) if both else None
    return StyleResult(imaging.grid(tiles, columns=columns), tiles, metrics)


def check_output_size(out_size: tuple[int, int], layers: list[str], size: int) -> None:
    """ValueError when the output's short edge is too small for the deepest layer read on it."""
    layer = deepest(layers)
    if min(out_size) < min_edge(layer):
        w, h = out_size
        raise ValueError(f"size {size} gives a {w}x{h} output, but layer {layer} needs {min_edge(layer)} px or more")


def _render(x: torch.Tensor) -> Image.Image:
    """The preview: the image itself up to the reference size, shrunk to 2x the reference above it."""
    return preview_image(x, 2 * REFERENCE)


def _anchor(reference: torch.Tensor | None, size: tuple[int, int]) -> tuple[torch.Tensor, int] | None:
    """For a scale above the reference: the reference result spread over `size`, and the pooling factor.

    Nearest-neighbour spreading, so that where `size` is k times the reference's the k x k means the anchor
    holds are the reference's own pixels; a bicubic upsampling's means are a blurred reference, and holding a
    print to blur raised its style_rel at 512 px (benchmarks/README.md, "Figures so far").
    """
    if reference is None or max(size) <= REFERENCE:
        return None
    factor = pool_factor(max(size), max(reference.shape[-2:]))
    return F.interpolate(reference, size=(size[1], size[0]), mode="nearest-exact"), factor


def _describe(scales: list[Scale]) -> str:
    """The plan in one line, e.g. "128x96:56 ... 2048x1536:8@2x2" (size:steps@rows x cols of tiles)."""
    parts = [f"{s.size[0]}x{s.size[1]}:{s.steps}" + (f"@{s.grid[0]}x{s.grid[1]}" if s.grid else "") for s in scales]
    return " ".join(parts)


def _output_size(config: StyleConfig, content: Image.Image | None, styles: list[Image.Image]) -> tuple[int, int]:
    """(W, H): the content's aspect, or the first style image's when there is no content image."""
    ref = content if content is not None and config.mode.needs_content else styles[0]
    return imaging.fit_size(*ref.size, config.size)


def _scaled_inputs(prepared: Prepared, size: tuple[int, int]) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
    """The content at the scale's size, and the styles at `style_scale` times its pixel count.

    At the coarser scales `coarse_style_scale` enlarges the styles further, up to the full size's pixel count.
    """
    config = prepared.config
    content = imaging.resize(prepared.content, size) if prepared.content is not None else None
    full = prepared.out_size[0] * prepared.out_size[1]
    style_px = min(full, size[0] * size[1] * config.coarse_style_scale**2) * config.style_scale**2
    # A small style_scale (or a narrow style image) must not shrink a style below what its deepest layer sees.
    edge = min_edge(deepest([n for v in prepared.variants for n in v.style_layers]))
    sizes = [imaging.at_least(imaging.pixels_size(s.shape[-1], s.shape[-2], style_px), edge) for s in prepared.styles]
    styles = [imaging.resize(s, sz) for s, sz in zip(prepared.styles, sizes, strict=True)]
    return content, styles


def _initial(
    config: StyleConfig,
    size: tuple[int, int],
    batch: int,
    content: torch.Tensor | None,
    styles: list[torch.Tensor],
    generator: torch.Generator,
    device: str,
) -> torch.Tensor:
    """The start image (B, 3, H, W) at the first scale."""
    init = config.init or config.mode.default_init
    if init is Init.content and (content is None or config.mode is Mode.content):
        init = Init.noise  # reconstructing the content from itself would be trivial; style mode may lack one
    if init is Init.content and content is not None:
        x = imaging.resize(content, size)
    elif init is Init.style:
        x = imaging.resize(styles[0], size)
    else:  # white noise, as in the paper
        x = torch.rand((1, 3, size[1], size[0]), generator=generator).to(device)
    return x.expand(batch, -1, -1, -1).clone().clamp(0, 1)  # (B, 3, H, W)


def _chunk_size(n: int, size: tuple[int, int], device: str) -> int:
    """How many sweep tiles to optimise as one batch: bounded by a pixel budget (activation memory)."""
    budget = 1_000_000 if device == "cpu" else 16_000_000  # ~3 GB of VGG activations per 1e6 pixels
    return max(1, min(n, budget // max(1, size[0] * size[1])))
