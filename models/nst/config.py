"""What a style job is asked to do (`StyleConfig`), what it returns (`StyleResult`), and the checks on both."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from models.nst.modes import Init, Mode, Optimizer, Pooling, Precision, parse
from models.nst.vgg import check_layers

# A field left to the mode's default (`Mode.defaults`); typed Any so that the field keeps its plain type.
UNSET: Any = None


@dataclass
class StyleConfig:
    """Everything a style job needs besides its images; plain values only (strings become the enums).

    Fields marked "per mode" take the mode's own default (`modes.MODE_DEFAULTS`) when left unset (None).
    """

    mode: Mode = Mode.transfer
    size: int = 512  # longest output edge, aspect kept
    iterations: int = UNSET  # per mode: total optimisation steps (one forward+backward each), all scales
    optimizer: Optimizer = Optimizer.lbfgs  # measured: see benchmarks/README.md
    init: Init | None = None  # None: the mode's default_init
    content_weight: float = 1.0  # alpha, on the relative content error
    style_weight: float = 10.0  # beta, on the relative Gram error (mean over the style layers)
    content_layers: list[str] = UNSET  # per mode; dream amplifies the first
    style_layers: list[str] = field(default_factory=lambda: ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"])
    layer_weights: dict[str, float] | None = None  # per-layer weights (style and content); default 1 each
    style_blend: list[float] | None = None  # one weight per style image, normalised
    tv_weight: float = UNSET  # per mode
    preserve_colors: bool = False  # colour matching + luminance-only transfer (see `stylize`)
    pooling: Pooling = Pooling.max
    scales: int = UNSET  # per mode: coarse-to-fine scales (1 = single scale); 3 at 512 px: 128, 256, 512
    final_share: float = UNSET  # per mode: share of the steps spent at full size (the rest split over coarser ones)
    style_scale: float = 1.0  # style image's pixel count relative to the output's, as a length ratio
    # per mode: at the coarser scales, the style image's length relative to the scale's (capped at the full
    # size's). Above 1, the deep layers' Gram matrices hold more positions than the output has, so they cannot
    # carry the painting's layout: texture synthesis then gives a stationary texture, not a blurred copy.
    coarse_style_scale: float = UNSET
    seed: int | None = 0
    sweep_style_weights: list[float] | None = None  # grid over beta values
    sweep_style_layers: list[list[str]] | None = None  # grid over style-layer stacks
    sweep_content_layers: list[str] | None = None  # grid over content layers (dream: the layer amplified)
    dream_strength: float = 1.0  # dream: scales the step; 0.25 subtle .. 4 wild
    precision: Precision = Precision.auto  # bf16: autocast for the VGG passes; losses stay fp32
    preview_every: int = 10  # attach a preview image to Progress every k steps (0: never)
    learning_rate: float = 0.02  # Adam step size (pixels in [0, 1])

    def __post_init__(self) -> None:
        # Direct callers may pass plain strings; the API edge has already checked them against its own enums.
        self.mode = parse(Mode, self.mode, "mode")
        self._fill_mode_defaults()
        self.optimizer = parse(Optimizer, self.optimizer, "optimizer")
        self.init = None if self.init is None else parse(Init, self.init, "init")
        self.pooling = parse(Pooling, self.pooling, "pooling")
        self.precision = parse(Precision, self.precision, "precision")

    def _fill_mode_defaults(self) -> None:
        defaults = self.mode.defaults
        if self.scales is None:
            self.scales = defaults.scales
        if self.iterations is None:
            self.iterations = defaults.total_iterations(self.scales)
        if self.content_layers is None:
            self.content_layers = list(defaults.content_layers)
        if self.tv_weight is None:
            self.tv_weight = defaults.tv_weight
        if self.final_share is None:
            self.final_share = defaults.final_share
        if self.coarse_style_scale is None:
            self.coarse_style_scale = defaults.coarse_style_scale


# A result's figures: counts are ints, measures floats, names strings; `losses` the last step's loss terms.
Metrics = dict[str, float | int | str | dict[str, float]]


@dataclass
class StyleResult:
    """The output image (the grid for sweeps), the sweep tiles, and final figures."""

    image: Image.Image
    tiles: list[tuple[str, Image.Image]]
    metrics: Metrics


def resolve_device(name: str) -> str:
    """'auto' -> 'cuda' if available else 'cpu'; anything else is checked and returned."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available")
    if not (name == "cpu" or name.startswith("cuda")):
        raise ValueError(f"device must be auto, cpu or cuda, not {name!r}")
    return name


def resolve_precision(precision: Precision, device: str) -> Precision:
    """auto -> bf16 where the hardware computes it natively (CUDA with bf16, AVX512-BF16/AMX CPUs), else fp32.

    Measured on tubingen x starry_night at 512 px: bf16 reaches the same quality figures as fp32 at
    ~0.6x the time per iteration on an AVX512-BF16 CPU; without native bf16 it would be slower.
    """
    if precision is not Precision.auto:
        return precision
    if device.startswith("cuda"):
        return Precision.bf16 if torch.cuda.is_bf16_supported() else Precision.fp32
    native = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    return Precision.bf16 if native or amx else Precision.fp32


def check(config: StyleConfig, content: Image.Image | None, styles: list[Image.Image]) -> None:
    """Raise ValueError with a clear message for any argument the algorithm cannot use.

    The API validates every field at its edge; these checks serve direct callers (the CLI's local runs go
    through the same schema as the API, benchmarks and tests do not).
    """
    _check_numbers(config)
    _check_layers(config)
    _check_images(config, content, styles)


def _check_numbers(c: StyleConfig) -> None:
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
    if not c.coarse_style_scale >= 1:
        raise ValueError(f"coarse_style_scale must be at least 1, not {c.coarse_style_scale}")
    for name in ("content_weight", "style_weight", "tv_weight"):
        if getattr(c, name) < 0 or not math.isfinite(getattr(c, name)):
            raise ValueError(f"{name} must be a finite number >= 0, not {getattr(c, name)}")
    for w in c.sweep_style_weights or []:
        if w < 0 or not math.isfinite(w):
            raise ValueError(f"sweep_style_weights must be finite numbers >= 0, not {w}")
    if not (c.dream_strength > 0 and math.isfinite(c.dream_strength)):
        raise ValueError(f"dream_strength must be a finite number > 0, not {c.dream_strength}")


def _check_layers(c: StyleConfig) -> None:
    if not c.content_layers and c.mode.needs_content:
        raise ValueError(f"content_layers must not be empty for mode={c.mode}")
    if not c.style_layers and c.mode.needs_style:
        raise ValueError(f"style_layers must not be empty for mode={c.mode}")
    check_layers(c.content_layers, "content layer")
    check_layers(c.style_layers, "style layer")
    for stack in c.sweep_style_layers or []:
        if not stack:
            raise ValueError("sweep_style_layers must not hold an empty stack")
        check_layers(stack, "sweep style layer")
    if c.sweep_content_layers is not None:
        _check_content_sweep(c)
    for name, w in (c.layer_weights or {}).items():
        check_layers([name], "layer_weights key")
        if w < 0 or not math.isfinite(w):
            raise ValueError(f"layer_weights[{name!r}] must be a finite number >= 0, not {w}")


def _check_content_sweep(c: StyleConfig) -> None:
    if not c.sweep_content_layers:
        raise ValueError("sweep_content_layers must name at least one layer")
    check_layers(c.sweep_content_layers, "sweep content layer")
    if c.mode is Mode.style:
        raise ValueError("sweep_content_layers needs a mode with a content image (transfer, content or dream)")
    if c.sweep_style_weights or c.sweep_style_layers:
        raise ValueError("sweep_content_layers cannot be combined with sweep_style_weights or sweep_style_layers")


def _check_images(c: StyleConfig, content: Image.Image | None, styles: list[Image.Image]) -> None:
    if c.mode.needs_content and content is None:
        raise ValueError(f"mode={c.mode} needs a content image")
    if c.mode.needs_style and not styles:
        raise ValueError(f"mode={c.mode} needs at least one style image")
    if c.init is Init.style and not styles:
        raise ValueError("init=style needs a style image")
    if c.style_blend is not None:
        if len(c.style_blend) != len(styles):
            raise ValueError(f"style_blend has {len(c.style_blend)} weights for {len(styles)} style images")
        if any(w < 0 or not math.isfinite(w) for w in c.style_blend) or sum(c.style_blend) <= 0:
            raise ValueError("style_blend weights must be >= 0 with a positive sum")
