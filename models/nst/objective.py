"""The objective: a weighted sum of small per-layer losses (`losses.py`) over a batch of images.

A sweep grid is one batch whose images carry different weights: each image of the batch is a `Variant`
with its own style weight and style-layer stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from models.nst.config import StyleConfig
from models.nst.losses import ContentLoss, StyleLoss, TVLoss
from models.nst.modes import Mode
from models.nst.vgg import LAYERS, VGG19Features


class Objective(nn.Module):
    """alpha·content + beta·style + tv over a batch; weights may differ per image of the batch."""

    content_w: torch.Tensor
    style_w: torch.Tensor
    alpha: torch.Tensor
    beta: torch.Tensor
    tv: torch.Tensor

    def __init__(
        self,
        vgg: VGG19Features,
        content: Mapping[str, nn.Module],
        style: Mapping[str, nn.Module],
        content_w: torch.Tensor,
        style_w: torch.Tensor,
        alpha: torch.Tensor,
        beta: torch.Tensor,
        tv: torch.Tensor,
        precision: str = "fp32",
    ) -> None:
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
        content_terms = (
            self.content_w[:, i] * loss(feats[name]) for i, (name, loss) in enumerate(self.content.items())
        )
        style_terms = (self.style_w[:, i] * loss(feats[name]) for i, (name, loss) in enumerate(self.style.items()))
        content = sum(content_terms, zero)  # (B,)
        style = sum(style_terms, zero)  # (B,)
        tv = self.tv_loss(x) if bool((self.tv > 0).any()) else zero  # (B,)
        total = (self.alpha * content + self.beta * style + self.tv * tv).sum()
        return total, {"content": content, "style": style, "tv": tv}


def _row_normalise(w: torch.Tensor) -> torch.Tensor:
    return w / w.sum(1, keepdim=True).clamp_min(1e-12)


@dataclass
class Variant:
    """One image of the output: a sweep tile, or the single output."""

    label: str
    style_weight: float
    style_layers: list[str]
    content_layers: list[str]


def variants(config: StyleConfig) -> list[Variant]:
    """The images to produce: the sweep grid (layer stacks as rows, style weights as columns), or one."""
    content = list(config.content_layers)
    if config.sweep_content_layers:  # one tile per content layer (check() refuses it with the other sweeps)
        return [Variant(n, config.style_weight, list(config.style_layers), [n]) for n in config.sweep_content_layers]
    weights = config.sweep_style_weights or [config.style_weight]
    stacks = config.sweep_style_layers or [config.style_layers]
    if not config.sweep_style_weights and not config.sweep_style_layers:
        return [Variant("", config.style_weight, list(config.style_layers), content)]
    out = []
    for stack in stacks:
        for w in weights:
            parts = []
            if config.sweep_style_layers:
                parts.append(_stack_label(stack))
            if config.sweep_style_weights:
                parts.append(f"beta={w:g}")
            out.append(Variant(" ".join(parts), w, list(stack), content))
    return out


def _stack_label(stack: list[str]) -> str:
    return stack[0] if len(stack) == 1 else f"{stack[0]}..{stack[-1]}" if len(stack) > 2 else ",".join(stack)


def needed_layers(config: StyleConfig, batch: list[Variant]) -> list[str]:
    """The layers the objectives read, for truncating VGG after the deepest."""
    needed = [n for v in batch for n in v.content_layers] if config.mode.matches_content else []
    if config.mode.needs_style:
        needed += [n for v in batch for n in v.style_layers]
    return needed


def build_objective(
    config: StyleConfig,
    vgg: VGG19Features,
    chunk: list[Variant],
    content: torch.Tensor | None,
    styles: list[torch.Tensor],
) -> Objective:
    """The objective at one scale, for one batch of variants; targets computed once, without autograd."""
    c = config
    content_layers, style_layers = objective_layers(c, chunk, content is not None)
    device = vgg.norm.scale.device
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=c.precision == "bf16"):
        content_feats = vgg(content, content_layers) if content_layers and content is not None else {}
        style_feats = [vgg(s, style_layers) for s in styles] if style_layers else []
    content_losses = {name: ContentLoss(content_feats[name]) for name in content_layers}
    style_losses = {name: StyleLoss([f[name] for f in style_feats], c.style_blend) for name in style_layers}
    return assemble_objective(c, vgg, chunk, content_losses, style_losses)


def objective_layers(config: StyleConfig, chunk: list[Variant], has_content: bool) -> tuple[list[str], list[str]]:
    """The content layers and the style layers (in network order) the objective of a batch reads."""
    use_content = config.mode.matches_content and has_content
    content_layers = sorted({n for v in chunk for n in v.content_layers}, key=LAYERS.index) if use_content else []
    stacks = [v.style_layers for v in chunk] if config.mode.needs_style else []
    style_layers = sorted({n for stack in stacks for n in stack}, key=LAYERS.index)
    return content_layers, style_layers


def assemble_objective(
    config: StyleConfig,
    vgg: VGG19Features,
    chunk: list[Variant],
    content_losses: Mapping[str, nn.Module],
    style_losses: Mapping[str, nn.Module],
) -> Objective:
    """The weighted sum of the given per-layer losses (any modules mapping features to (B,) values)."""
    c = config
    content_w, style_w = _layer_weights(c, chunk, list(content_losses), list(style_losses))
    alpha, beta = _term_weights(c, chunk, bool(content_losses), c.mode.needs_style)
    tv = torch.full((len(chunk),), c.tv_weight)
    objective = Objective(vgg, content_losses, style_losses, content_w, style_w, alpha, beta, tv, c.precision)
    return objective.to(vgg.norm.scale.device)


def _layer_weights(
    c: StyleConfig, chunk: list[Variant], content_layers: list[str], style_layers: list[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-layer weights (B, Lc) and (B, Ls); a variant's layers outside its own lists weigh 0."""
    lw, b = c.layer_weights or {}, len(chunk)
    content_rows = [[lw.get(n, 1.0) if n in v.content_layers else 0.0 for n in content_layers] for v in chunk]
    content_w = torch.tensor(content_rows).reshape(b, len(content_layers))
    style_rows = [[lw.get(n, 1.0) if n in v.style_layers else 0.0 for n in style_layers] for v in chunk]
    return content_w, torch.tensor(style_rows).reshape(b, len(style_layers))


def _term_weights(
    c: StyleConfig, chunk: list[Variant], use_content: bool, use_style: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha and beta per image (B,) each; a reconstruction weighs its one term 1, whatever was asked."""
    b = len(chunk)
    alpha = torch.full((b,), c.content_weight if use_content else 0.0)
    beta = torch.tensor([v.style_weight if use_style else 0.0 for v in chunk])
    if c.mode is Mode.content:
        alpha = torch.ones(b)
    if c.mode is Mode.style:
        beta = torch.ones(b) if not c.sweep_style_weights else beta
    return alpha, beta
