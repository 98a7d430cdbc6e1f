"""Gatys et al. (2015) losses as small modules, each holding its target as a buffer.

Each loss is normalised by its target's energy, so it is a squared *relative* error: layers of very
different magnitudes contribute comparably, and alpha/beta keep their meaning at every image size.
Every loss returns one value per image of the batch, shape (B,), so a batch can carry per-image
weights (the sweep grids optimise all their tiles as one batch).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class _Gram(torch.autograd.Function):
    """Fᵀ F of (B, N, C) positions x channels, with the backward as one product: dF = F (dG + dGᵀ).

    Autograd's own backward of bmm(Fᵀ, F) takes two products of F's size and adds them; this one costs half.
    """

    @staticmethod
    def forward(ctx: Any, f: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(f)
        return torch.bmm(f.transpose(1, 2), f)  # (B, C, C)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (f,) = ctx.saved_tensors
        return torch.bmm(f, grad + grad.transpose(1, 2))  # (B, N, C)


def positions(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) features as (B, H W, C), in fp32: a view of channels-last features, no copy.

    VGG's activations are channels-last (`vgg.py`), so this view's gradient is channels-last too and adds
    to the next layer's without a strided copy (the (B, C, HW) reshape cost a full copy each way).
    """
    b, c, h, w = x.shape
    return x.float().permute(0, 2, 3, 1).reshape(b, h * w, c)


def gram_of_positions(f: torch.Tensor) -> torch.Tensor:
    """Fᵀ F of (B, N, C) fp32 features (`positions`) -> (B, C, C), unnormalised, with `_Gram`'s backward."""
    with torch.autocast(f.device.type, enabled=False):  # bf16 Grams lose the small differences that matter
        return _Gram.apply(f)  # type: ignore[no-any-return]


def gram_matrix(x: torch.Tensor) -> torch.Tensor:
    """Gram matrix F Fᵀ / (H W) of (B, C, H, W) features -> (B, C, C), always in fp32."""
    h, w = x.shape[-2:]
    with torch.autocast(x.device.type, enabled=False):
        return gram_of_positions(positions(x)) / (h * w)  # (B, C, C)


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
