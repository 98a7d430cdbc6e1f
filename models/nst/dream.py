"""DeepDream-style pareidolia (Mordvintsev et al. 2015): amplify what one VGG-19 layer sees, over octaves.

The defaults (`Mode.dream.defaults`) follow the original's shape: 4 octaves 1.4 apart, each step 1.5 grey
levels (0-255) along the gradient normalised by its mean magnitude, but 5 steps per octave where GoogLeNet
took 10, as VGG-19 dreams about twice as fast; so the picture stays recognisable and the dream grows out of
it. `dream_strength` scales that step.
"""

from __future__ import annotations

import math
import time
from functools import partial

import torch
from PIL import Image

from models.nst import imaging
from models.nst.config import Metrics, StyleConfig, StyleResult
from models.nst.scales import MIN_SCALE_SIZE, scale_sizes, split_iterations, step_costs
from models.nst.vgg import VGG19Features, build_vgg, deepest, min_edge
from models.progress import OnProgress, ShouldStop, Tracker

OCTAVE_FACTOR = 1.4  # the classic DeepDream octave scale
MAX_SHIFT = 16  # random roll (jitter) per step, in pixels, against grid artefacts
STEP = 1.5 / 255  # the original DeepDream step (1.5 on a 0-255 image) on its normalised gradient

Octaves = list[tuple[int, int]]  # (longest edge, steps) per octave, coarse to fine


def dream_step(
    x: torch.Tensor, vgg: VGG19Features, layer: str, lr: float, shift: tuple[int, int], precision: str = "fp32"
) -> tuple[torch.Tensor, float]:
    """One normalised gradient-ascent step on the mean squared activation of `layer`."""
    x = torch.roll(x.detach(), shifts=shift, dims=(-2, -1)).requires_grad_(True)  # (1, 3, H, W)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        act = vgg(x, [layer])[layer]  # (1, C, h, w)
    objective = act.float().pow(2).mean()
    (grad,) = torch.autograd.grad(objective, x)
    with torch.no_grad():
        # Normalising by the mean |gradient| makes the step size independent of the layer's scale.
        x = x + lr * grad / grad.abs().mean().clamp_min(1e-12)
        x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(-2, -1)).clamp(0, 1)
    return x, float(objective.detach())


def dream(
    content: Image.Image,
    config: StyleConfig,
    *,
    device: str = "cpu",
    weights_path: str | None = None,
    on_progress: OnProgress | None = None,
    should_stop: ShouldStop | None = None,
) -> StyleResult:
    """Dream on `config.content_layers[0]`, or one tile per layer of `sweep_content_layers` (a labelled grid)."""
    started = time.perf_counter()
    layers = config.sweep_content_layers or config.content_layers[:1]
    out_size = imaging.fit_size(*content.size, config.size)
    schedules = [octaves(config, out_size, layer) for layer in layers]  # one layer after the other
    costs = [cost for schedule in schedules for cost in step_costs(schedule)]
    tracker = Tracker(config.iterations * len(layers), on_progress, should_stop, config.preview_every, costs)
    tracker.check()
    vgg = build_vgg(deepest(layers), config.pooling, weights_path, device)
    base = imaging.to_tensor(imaging.shrink(content, out_size), device=device)  # (1, 3, H, W), never the upload's size
    tiles: list[tuple[str, Image.Image]] = []
    metrics: Metrics = {}
    for layer, schedule in zip(layers, schedules, strict=True):
        x = dream_layer(base, vgg, layer, schedule, config, tracker)  # (1, 3, H, W)
        tiles.append((layer, imaging.to_image(x)))
        gain = activation_gain(vgg, x, base, layer)
        metrics["activation_gain" if len(layers) == 1 else f"activation_gain_{layer}"] = gain
    seconds = time.perf_counter() - started
    image = tiles[0][1] if len(tiles) == 1 else imaging.grid(tiles)
    metrics.update(
        losses=dict(tracker.losses),  # the last step's: activation, and total (its negative)
        seconds=seconds,
        device=device,
        iterations=tracker.step,
        seconds_per_iteration=seconds / max(1, tracker.step),
        width=tiles[0][1].width,
        height=tiles[0][1].height,
    )
    return StyleResult(image, tiles if len(tiles) > 1 else [], metrics)


def octaves(config: StyleConfig, out_size: tuple[int, int], layer: str) -> Octaves:
    """The octaves for `layer`; ValueError when even the output is too small for the layer to see."""
    edge = min_edge(layer)
    if min(out_size) < edge:
        raise ValueError(f"size {config.size} gives a {out_size[0]}x{out_size[1]} output, but {layer} needs {edge} px")
    # Octaves too small for the layer to see are skipped (a narrow image's short edge decides), as are the
    # coarsest when there are fewer steps than octaves.
    min_size = max(MIN_SCALE_SIZE, math.ceil(edge * max(out_size) / min(out_size)))
    sizes = scale_sizes(config.size, config.scales, OCTAVE_FACTOR, min_size)[-config.iterations :]
    steps = split_iterations(config.iterations, len(sizes), final_share=1 / len(sizes))
    return list(zip(sizes, steps, strict=True))


def dream_layer(
    base: torch.Tensor, vgg: VGG19Features, layer: str, schedule: Octaves, config: StyleConfig, tracker: Tracker
) -> torch.Tensor:
    """Gradient ascent on `layer` over the octaves of `schedule`, coarse to fine, carrying the detail up."""
    generator = torch.Generator().manual_seed(config.seed if config.seed is not None else torch.seed())
    out_size = (base.shape[-1], base.shape[-2])
    lr = STEP * config.dream_strength
    detail: torch.Tensor | None = None  # what the dream added at the previous octave
    x = base
    for longest, n_steps in schedule:
        size = imaging.fit_size(*out_size, longest)
        octave_base = imaging.resize(base, size)  # (1, 3, h, w)
        x = octave_base if detail is None else (octave_base + imaging.resize(detail, size)).clamp(0, 1)
        for _ in range(n_steps):
            tracker.check()
            shift = tuple(int(v) for v in torch.randint(-MAX_SHIFT, MAX_SHIFT + 1, (2,), generator=generator))
            x, value = dream_step(x, vgg, layer, lr, (shift[0], shift[1]), config.precision)
            tracker.done({"activation": value, "total": -value}, partial(imaging.preview, x))
        detail = x - octave_base
    return x


@torch.no_grad()
def activation_gain(vgg: VGG19Features, x: torch.Tensor, base: torch.Tensor, layer: str) -> float:
    """The dream's mean squared activation of `layer` over the content's, both at the output's size."""
    content = imaging.resize(base, (x.shape[-1], x.shape[-2]))  # (1, 3, H, W)
    acts = vgg(torch.cat([x, content]), [layer])[layer].float().pow(2).flatten(1).mean(1)  # (2,)
    return float(acts[0] / acts[1].clamp_min(1e-12))
