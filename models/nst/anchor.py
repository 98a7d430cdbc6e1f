"""The anchor of a print: at the scales above the reference, the picture seen at the reference size stays put.

A print larger than `plan.REFERENCE` first gets the reference result (512 px, the composition and the stroke
scale), then refining scales that should only add detail. Left alone they also move the picture itself:
L-BFGS at 1024 px, started from the upsampled 512 px result, drew strokes that downscaled back to 512 px
moved content_rel from 0.78 to 0.94 (benchmarks/README.md). So each refining scale adds

    anchor = ‖P(x) - P(U)‖² / ‖P(U)‖²

with U the reference result upsampled to the scale's size and P the k x k mean (k the scale's edge over
the reference's, rounded): detail finer than k pixels is free, the picture at the reference scale is held.
The term is local, so a tile weighs it by its blending weight like its other losses (`tiled.py`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.nst.objective import Objective

# Weight of the anchor against the content (alpha) and style (beta) terms; chosen by measurement
# (benchmarks/README.md): the smallest that keeps the 512 px figures of a 2048 px print within the bar.
ANCHOR_WEIGHT = 1000.0


def pool_factor(edge: int, reference_edge: int) -> int:
    """k: the scale's longest edge over the reference's, rounded (1: no anchor needed)."""
    return max(1, round(edge / reference_edge))


class AnchorLoss(nn.Module):
    """Σ m (P(x) - T)² / Σ m T² per image, P the k x k mean, T = P(U) the pooled reference, m the pooled weight."""

    target: torch.Tensor
    mask: torch.Tensor
    norm: torch.Tensor

    def __init__(self, upsampled: torch.Tensor, factor: int, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.factor = factor
        target = F.avg_pool2d(upsampled.detach().float(), factor)  # (B, 3, h/k, w/k): one per image of the batch
        mask = torch.ones_like(target[:, :1]) if weight is None else F.avg_pool2d(weight, factor)
        self.register_buffer("target", target)
        self.register_buffer("mask", mask)  # (1, 1, h/k, w/k)
        self.register_buffer("norm", (target.pow(2) * mask).flatten(1).sum(1) + 1e-8)  # (B,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.avg_pool2d(x.float(), self.factor)  # (B, 3, h/k, w/k)
        return ((pooled - self.target).pow(2) * self.mask).flatten(1).sum(1) / self.norm  # (B,)


class Anchored(nn.Module):
    """An objective plus the anchor, weighted by `weight` (default ANCHOR_WEIGHT) times alpha + beta of each
    image, so that it holds as firmly whatever content and style weights the job asked for."""

    scale: torch.Tensor

    def __init__(self, objective: Objective, anchor: AnchorLoss, weight: float | None = None) -> None:
        super().__init__()
        self.objective, self.anchor = objective, anchor
        weight = ANCHOR_WEIGHT if weight is None else weight
        self.register_buffer("scale", weight * (objective.alpha + objective.beta))  # (B,)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        total, terms = self.objective(x)
        a = self.anchor(x)  # (B,)
        return total + (self.scale * a).sum(), {**terms, "anchor": a}
