"""L-BFGS with one curvature history per image of a batch, so the tiles of a sweep stay independent.

torch's L-BFGS sees a batch as one long vector: one step length and one curvature estimate for all
tiles, so the tile with the largest loss (the highest beta) sets the pace and the others barely move.
Here every dot product is taken per image, (B,), which is exactly B independent L-BFGS runs in one pass.
It follows torch.optim.LBFGS with max_iter=1 and no line search (one evaluation per step).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


class BatchLBFGS:
    """Per-image L-BFGS on x (B, ...) with lr 1, the first step scaled by min(1, 1/‖g‖₁) as in torch."""

    def __init__(self, x: torch.Tensor, history_size: int = 50) -> None:
        self.x = x
        self.history_size = history_size
        self.s: list[torch.Tensor] = []  # each (B, N)
        self.y: list[torch.Tensor] = []  # each (B, N)
        self.rho: list[torch.Tensor] = []  # each (B,); 0 marks a pair skipped for that image
        self.h_diag = torch.ones(x.shape[0], device=x.device, dtype=x.dtype)  # (B,)
        self.prev_g: torch.Tensor | None = None
        self.prev_step: torch.Tensor | None = None  # (B, N), the last update t·d

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        with torch.enable_grad():
            loss = closure()
        assert self.x.grad is not None
        g = self.x.grad.detach().flatten(1)  # (B, N)
        if self.prev_g is None or self.prev_step is None:
            d = -g
            t = (1.0 / g.abs().sum(1).clamp_min(1e-30)).clamp(max=1.0)  # (B,)
        else:
            y, s = g - self.prev_g, self.prev_step  # (B, N)
            ys = (y * s).sum(1)  # (B,)
            ok = ys > 1e-10  # curvature condition, per image
            if len(self.s) == self.history_size:
                del self.s[0], self.y[0], self.rho[0]
            self.s.append(s)
            self.y.append(y)
            self.rho.append(torch.where(ok, 1.0 / ys.clamp_min(1e-10), 0.0))
            self.h_diag = torch.where(ok, ys / (y * y).sum(1).clamp_min(1e-30), self.h_diag)
            d = -self._two_loop(g)
            t = torch.ones_like(ys)
            descent = (g * d).sum(1) < 0  # (B,)
            d = torch.where(descent[:, None], d, -g * self.h_diag[:, None])  # fall back to steepest descent
        update = t[:, None] * d  # (B, N)
        self.x.add_(update.view_as(self.x).to(self.x.dtype))
        self.prev_g, self.prev_step = g, update
        return loss

    def _two_loop(self, g: torch.Tensor) -> torch.Tensor:
        """H·g by the two-loop recursion, every product per image."""
        q = g.clone()  # (B, N)
        alphas = []
        for s, y, rho in zip(reversed(self.s), reversed(self.y), reversed(self.rho), strict=True):
            a = rho * (s * q).sum(1)  # (B,)
            q -= a[:, None] * y
            alphas.append(a)
        r = q * self.h_diag[:, None]
        for s, y, rho, a in zip(self.s, self.y, self.rho, reversed(alphas), strict=True):
            b = rho * (y * r).sum(1)  # (B,)
            r += s * (a - b)[:, None]
        return r
