"""Per-image L-BFGS: a batch behaves as independent runs, whatever the scale of each image's loss."""

from __future__ import annotations

import torch

from models.nst.optim import BatchLBFGS


def _run(x0: torch.Tensor, weights: torch.Tensor, a: torch.Tensor, c: torch.Tensor, steps: int) -> torch.Tensor:
    x = x0.clone().requires_grad_(True)  # (B, 6)
    opt = BatchLBFGS(x, history_size=5)

    def closure() -> torch.Tensor:
        x.grad = None
        loss = (weights * ((x @ a.T - c) ** 2).sum(1)).sum()  # per-image quadratic, scaled by (B,) weights
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
    return x.detach()


def test_batch_lbfgs_is_per_image_and_converges() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(6, 6, generator=gen, dtype=torch.float64) + 3 * torch.eye(6, dtype=torch.float64)
    c = torch.randn(6, generator=gen, dtype=torch.float64)
    x0 = torch.randn(2, 6, generator=gen, dtype=torch.float64)
    weights = torch.tensor([1.0, 1e4], dtype=torch.float64)  # wildly different loss scales
    batched = _run(x0, weights, a, c, 25)
    alone = torch.cat([_run(x0[i : i + 1], weights[i : i + 1], a, c, 25) for i in range(2)])
    assert torch.allclose(batched, alone, atol=1e-9)
    solution = torch.linalg.solve(a, c)
    assert torch.allclose(batched, solution.expand(2, 6), atol=1e-5)
