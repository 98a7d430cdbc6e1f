"""Gatys et al. (2015) losses as small modules, each holding its target as a buffer.

Each loss is normalised by its target's energy, so it is a squared *relative* error: layers of very
different magnitudes contribute comparably, and alpha/beta keep their meaning at every image size.
Every loss returns one value per image of the batch, shape (B,), so a batch can carry per-image
weights (the sweep grids optimise all their tiles as one batch).
"""

from __future__ import annotations

import torch
from torch import nn


def gram_matrix(x: torch.Tensor) -> torch.Tensor:
    """Gram matrix F Fᵀ / (H W) of (B, C, H, W) features -> (B, C, C), always in fp32."""
    b, c, h, w = x.shape
    with torch.autocast(x.device.type, enabled=False):  # bf16 Grams lose the small differences that matter
        f = x.float().reshape(b, c, h * w)  # (B, C, HW)
        return torch.bmm(f, f.transpose(1, 2)) / (h * w)  # (B, C, C)


class ContentLoss(nn.Module):
    """‖F - F_target‖² / ‖F_target‖² at one layer (eq. 1 of the paper, normalised)."""

    target: torch.Tensor
    norm: torch.Tensor

    def __init__(self, target: torch.Tensor, eps: float = 1e-8) -> None:
        super().__init__()
        target = target.detach().float()  # (1, C, H, W)
        self.register_buffer("target", target)
        self.register_buffer("norm", target.pow(2).sum() + eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self.target).pow(2).flatten(1).sum(1) / self.norm  # (B,)


class StyleLoss(nn.Module):
    """‖G - G_target‖² / ‖G_target‖² at one layer (eq. 4), the target a weighted blend of Gram matrices."""

    target: torch.Tensor
    norm: torch.Tensor

    def __init__(self, targets: list[torch.Tensor], blend: list[float] | None = None, eps: float = 1e-8) -> None:
        super().__init__()
        weights = blend or [1.0] * len(targets)
        total = sum(weights)
        # Blending Gram matrices (not images) mixes several styles, as in neural-style's style_blend_weights.
        g = torch.stack([w / total * gram_matrix(t.detach()) for w, t in zip(weights, targets, strict=True)])
        g = g.sum(0)  # (1, C, C)
        self.register_buffer("target", g)
        self.register_buffer("norm", g.pow(2).sum() + eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (gram_matrix(x) - self.target).pow(2).flatten(1).sum(1) / self.norm  # (B,)


class TVLoss(nn.Module):
    """Total variation: mean squared difference of neighbouring pixels, against high-frequency noise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dx = x[..., :, 1:] - x[..., :, :-1]  # (B, C, H, W-1)
        dy = x[..., 1:, :] - x[..., :-1, :]  # (B, C, H-1, W)
        return dx.pow(2).flatten(1).mean(1) + dy.pow(2).flatten(1).mean(1)  # (B,)
