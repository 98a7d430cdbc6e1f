"""DeepDream-style pareidolia (Mordvintsev et al. 2015): amplify what one VGG-19 layer sees, over octaves."""

from __future__ import annotations

import math
import time
from functools import partial

import torch
from PIL import Image

from models.nst import imaging
from models.nst.config import StyleConfig, StyleResult
from models.nst.scales import MIN_SCALE_SIZE, scale_sizes, split_iterations, step_costs
from models.nst.vgg import VGG19Features, build_vgg, min_edge
from models.progress import OnProgress, ShouldStop, Tracker

OCTAVE_FACTOR = 1.4  # the classic DeepDream octave scale
MAX_SHIFT = 16  # random roll (jitter) per step, in pixels, against grid artefacts
STEP = 1.5 / 255  # the original DeepDream step (1.5 on a 0-255 image) on its normalised gradient


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
    """Gradient ascent on `config.content_layers[0]` over `config.scales` octaves, carrying the detail up."""
    started = time.perf_counter()
    layer = config.content_layers[0]
    vgg = build_vgg(layer, config.pooling, weights_path, device)
    generator = torch.Generator().manual_seed(config.seed if config.seed is not None else torch.seed())
    out_size = imaging.fit_size(*content.size, config.size)
    edge = min_edge(layer)
    if min(out_size) < edge:
        raise ValueError(f"size {config.size} gives a {out_size[0]}x{out_size[1]} output, but {layer} needs {edge} px")
    # Octaves too small for the layer to see are skipped (a narrow image's short edge decides).
    min_size = max(MIN_SCALE_SIZE, math.ceil(edge * max(out_size) / min(out_size)))
    sizes = scale_sizes(config.size, config.scales, OCTAVE_FACTOR, min_size)[-config.iterations :]
    steps = split_iterations(config.iterations, len(sizes), final_share=1 / len(sizes))
    costs = step_costs(list(zip(sizes, steps, strict=True)))
    tracker = Tracker(config.iterations, on_progress, should_stop, config.preview_every, costs)
    tracker.check()
    base = imaging.to_tensor(imaging.shrink(content, out_size), device=device)  # (1, 3, H, W), never the upload's size
    detail: torch.Tensor | None = None  # what the dream added at the previous octave
    x = base
    for longest, n_steps in zip(sizes, steps, strict=True):
        size = imaging.fit_size(*out_size, longest)
        octave_base = imaging.resize(base, size)  # (1, 3, h, w)
        x = octave_base if detail is None else (octave_base + imaging.resize(detail, size)).clamp(0, 1)
        for _ in range(n_steps):
            tracker.check()
            shift = tuple(int(v) for v in torch.randint(-MAX_SHIFT, MAX_SHIFT + 1, (2,), generator=generator))
            x, value = dream_step(x, vgg, layer, STEP, (shift[0], shift[1]), config.precision)
            tracker.done({"activation": value, "total": -value}, partial(imaging.preview, x))
        detail = x - octave_base
    image = imaging.to_image(x)
    seconds = time.perf_counter() - started
    metrics: dict[str, float | str] = {
        "activation": tracker.losses.get("activation", 0.0),
        "seconds": seconds,
        "device": device,
        "iterations": float(tracker.step),
        "seconds_per_iteration": seconds / max(1, tracker.step),
        "width": float(image.width),
        "height": float(image.height),
    }
    return StyleResult(image, [], metrics)
