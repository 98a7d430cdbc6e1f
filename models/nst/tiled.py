"""One scale optimised in overlapping tiles, for images too large for memory in one piece.

- The style's Gram targets are global: computed once per scale over the whole style image (itself in
  tiles when large), and every tile matches them.
- Each tile has its own content targets: the content image's features over the same window, so the zero
  padding at the tile's edges distorts target and output alike.
- Losses are weighted by the tile's blending weight on each layer's grid (`tiles.layer_masks`): positions
  near a tile's inner edges, where the padding distorts the features, count for little or nothing.
- The tile's pixels are `(1 - w)·base + w·v`, with `v` the optimised variable: the halo (w = 0) is fixed
  context, the ramp moves in part, so what the optimiser sees is exactly what is written back.
- Tiles are visited once each, row by row, and each runs its `steps` L-BFGS steps with a fresh history
  (block coordinate descent, Gauss-Seidel order): every tile starts from its neighbours' latest pixels,
  and only one tile's history is ever held, so memory does not grow with the image.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image
from torch import nn

from models.nst import imaging
from models.nst.anchor import Anchored, AnchorLoss
from models.nst.config import StyleConfig
from models.nst.losses import gram_of_positions, positions
from models.nst.objective import Objective, Variant, assemble_objective, objective_layers
from models.nst.optim import optimize
from models.nst.plan import HALO, OVERLAP, Scale
from models.nst.tiles import Tile, grid_for, layer_masks, layout
from models.nst.vgg import VGG19Features, stride
from models.progress import Tracker


class MaskedContentLoss(nn.Module):
    """Σ m (F - F_target)² / Σ m F_target²: the relative content error over a weighted region."""

    target: torch.Tensor
    mask: torch.Tensor
    norm: torch.Tensor

    def __init__(self, target: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> None:
        super().__init__()
        target = target.detach().float()  # (1, C, h, w)
        self.register_buffer("target", target)
        self.register_buffer("mask", mask)  # (1, 1, h, w)
        self.register_buffer("norm", (target.pow(2) * mask).sum() + eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.float() - self.target).pow(2) * self.mask).flatten(1).sum(1) / self.norm  # (B,)


def masked_gram(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """F diag(m) Fᵀ / Σ m of (B, C, h, w) features and a (1, 1, h, w) mask -> (B, C, C), in fp32."""
    with torch.autocast(x.device.type, enabled=False):
        f = positions(x) * mask.reshape(1, -1, 1).sqrt()  # (B, hw, C)
        return gram_of_positions(f) / mask.sum().clamp_min(1e-8)  # (B, C, C)


class MaskedStyleLoss(nn.Module):
    """‖G_m - G_target‖² / ‖G_target‖², G_m the masked Gram of the tile, G_target the global one."""

    target: torch.Tensor
    mask: torch.Tensor
    norm: torch.Tensor

    def __init__(self, target: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> None:
        super().__init__()
        self.register_buffer("target", target)  # (1, C, C)
        self.register_buffer("mask", mask)  # (1, 1, h, w)
        self.register_buffer("norm", target.pow(2).sum() + eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (masked_gram(x, self.mask) - self.target).pow(2).flatten(1).sum(1) / self.norm  # (B,)


class Blended(nn.Module):
    """The objective of a tile whose pixels are (1 - w)·base + w·v, as a function of v."""

    def __init__(self, objective: nn.Module, base: torch.Tensor, weight: torch.Tensor) -> None:
        super().__init__()
        self.objective, self.base, self.weight = objective, base, weight

    def pixels(self, v: torch.Tensor) -> torch.Tensor:
        return torch.lerp(self.base, v, self.weight)  # (B, 3, h, w)

    def forward(self, v: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.objective(self.pixels(v))


@torch.no_grad()
def global_grams(
    vgg: VGG19Features,
    image: torch.Tensor,
    layers: list[str],
    precision: str,
    max_pixels: int,
    overlap: int = OVERLAP,
    halo: int = HALO,
) -> dict[str, torch.Tensor]:
    """The Gram matrices (1, C, C) of a (1, 3, H, W) image at `layers`, over tiles of at most `max_pixels`."""
    h, w = image.shape[-2:]
    rows, cols = grid_for(h, w, max_pixels, overlap, halo) or (1, 1)
    sums: dict[str, torch.Tensor] = {}
    totals: dict[str, torch.Tensor] = {}
    for t in layout(h, w, rows, cols, overlap, halo):
        masks = layer_masks(t.weight(image.device), {n: stride(n) for n in layers})
        with torch.autocast(image.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            feats = vgg(t.crop(image), layers)
        for name in layers:
            # Unnormalised sums F diag(m) Fᵀ and Σ m, so the tiles add up to the whole image's Gram.
            part = masked_gram(feats[name], masks[name]) * masks[name].sum()
            sums[name] = sums.get(name, 0) + part
            totals[name] = totals.get(name, 0) + masks[name].sum()
        del feats
    return {name: sums[name] / totals[name] for name in layers}


def style_targets(
    config: StyleConfig,
    vgg: VGG19Features,
    styles: list[torch.Tensor],
    layers: list[str],
    max_pixels: int,
) -> dict[str, torch.Tensor]:
    """The blended global Gram targets (1, C, C) per layer, each style image weighted by `style_blend`."""
    weights = config.style_blend or [1.0] * len(styles)
    total = sum(weights)
    grams = [global_grams(vgg, s, layers, config.precision.value, max_pixels) for s in styles]
    return {n: sum((w / total * g[n] for w, g in zip(weights, grams, strict=True)), torch.zeros(1)) for n in layers}


def tile_objective(
    config: StyleConfig,
    vgg: VGG19Features,
    chunk: list[Variant],
    content: torch.Tensor | None,
    grams: dict[str, torch.Tensor],
    tile: Tile,
) -> Objective:
    """The objective of one tile: its own content targets, the global Gram targets, both masked."""
    content_layers, style_layers = objective_layers(config, chunk, content is not None)
    device = vgg.norm.scale.device
    masks = layer_masks(tile.weight(device), {n: stride(n) for n in [*content_layers, *style_layers]})
    content_feats: dict[str, torch.Tensor] = {}
    if content_layers and content is not None:
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"):
            content_feats = vgg(tile.crop(content), content_layers)
    content_losses = {n: MaskedContentLoss(content_feats[n], masks[n]) for n in content_layers}
    style_losses = {n: MaskedStyleLoss(grams[n].to(device), masks[n]) for n in style_layers}
    return assemble_objective(config, vgg, chunk, content_losses, style_losses)


def optimize_tiled(
    x: torch.Tensor,
    config: StyleConfig,
    vgg: VGG19Features,
    chunk: list[Variant],
    content: torch.Tensor | None,
    grams: dict[str, torch.Tensor],
    tiles: list[Tile],
    steps: int,
    tracker: Tracker,
    render: Callable[[torch.Tensor], Image.Image],
    anchor: tuple[torch.Tensor, int] | None = None,
) -> torch.Tensor:
    """Visit each tile once, row by row, for `steps` steps; x (B, 3, H, W) is updated in place and returned.

    `anchor`: the upsampled reference result and its pooling factor (`anchor.py`), held tile by tile.
    """
    for tile in tiles:
        weight = tile.weight(x.device)  # (1, 1, h, w)
        base = tile.crop(x).clone()  # (B, 3, h, w)
        plain = tile_objective(config, vgg, chunk, content, grams, tile)
        objective: nn.Module = plain
        if anchor is not None:
            objective = Anchored(plain, AnchorLoss(tile.crop(anchor[0]), anchor[1], weight))
        blended = Blended(objective, base, weight)

        def show(v: torch.Tensor, blended: Blended = blended, tile: Tile = tile) -> Image.Image:
            whole = x.clone()
            tile.crop(whole).copy_(blended.pixels(v.detach()))
            return render(whole)

        v = optimize(base, blended, steps, config.optimizer, tracker, config.learning_rate, render=show)
        tile.crop(x).copy_(blended.pixels(v))
    return x


def run_scale(
    scale: Scale,
    x: torch.Tensor,
    config: StyleConfig,
    vgg: VGG19Features,
    chunk: list[Variant],
    content: torch.Tensor | None,
    styles: list[torch.Tensor],
    tracker: Tracker,
    render: Callable[[torch.Tensor], Image.Image],
    anchor: tuple[torch.Tensor, int] | None = None,
) -> torch.Tensor:
    """One tiled scale: the global Gram targets once, then every tile in turn; x (B, 3, H, W) is updated."""
    tiles = scale.tiles()
    _, style_layers = objective_layers(config, chunk, content is not None)
    piece = max(t.pixels for t in tiles)  # the style image goes through the network in pieces no larger
    grams = style_targets(config, vgg, styles, style_layers, piece)
    return optimize_tiled(x, config, vgg, chunk, content, grams, tiles, scale.steps, tracker, render, anchor)


def preview_image(x: torch.Tensor, longest: int) -> Image.Image:
    """The preview of a (B, 3, H, W) batch, shrunk so its longest edge is at most `longest`."""
    h, w = x.shape[-2:]
    if max(h, w) > longest:
        x = imaging.resize(x, imaging.fit_size(w, h, longest)).clamp(0, 1)
    return imaging.preview(x)
