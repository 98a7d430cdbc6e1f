"""Gatys losses: the Gram matrix, zero at the target, blends, total variation."""

from __future__ import annotations

import torch

from models.nst.losses import ContentLoss, StyleLoss, TVLoss, gram_matrix, gram_of_positions


def _feats(seed: int, shape: tuple[int, ...] = (1, 8, 6, 5)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def test_gram_matrix_matches_definition() -> None:
    x = _feats(0, (2, 4, 3, 5))
    g = gram_matrix(x)  # (2, 4, 4)
    assert g.shape == (2, 4, 4)
    f = x[1].reshape(4, 15)
    assert torch.allclose(g[1], f @ f.T / 15)
    assert torch.allclose(g, g.transpose(1, 2))


def test_gram_backward_is_the_gram_gradient() -> None:
    """The one-product backward (dF = F (dG + dGᵀ)) is the true gradient, checked numerically in float64."""
    f = torch.rand((2, 7, 3), dtype=torch.float64, generator=torch.Generator().manual_seed(10), requires_grad=True)
    assert torch.autograd.gradcheck(gram_of_positions, (f,))
    x = _feats(11, (2, 4, 3, 5)).requires_grad_(True)
    weights = _feats(12, (2, 4, 4))
    (gram_matrix(x) * weights).sum().backward()
    ref = x.detach().clone().requires_grad_(True)
    f = ref.reshape(2, 4, 15)
    (torch.bmm(f, f.transpose(1, 2)) / 15 * weights).sum().backward()
    torch.testing.assert_close(x.grad, ref.grad)


def test_gram_gradient_of_channels_last_features_is_channels_last() -> None:
    """VGG's activations are channels-last; a gradient in another layout costs a strided copy and a strided add
    at every style layer of every step (a quarter of a step's time at 512 px, benchmarks/README.md)."""
    x = _feats(13, (1, 8, 6, 5)).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    StyleLoss([_feats(14)])(x).sum().backward()
    assert x.grad is not None and x.grad.is_contiguous(memory_format=torch.channels_last)


def test_gram_ignores_where_features_are() -> None:
    """Style is spatially invariant: shuffling positions leaves the Gram matrix unchanged."""
    x = _feats(1)
    perm = torch.randperm(30, generator=torch.Generator().manual_seed(2))
    shuffled = x.reshape(1, 8, 30)[..., perm].reshape(x.shape)
    assert torch.allclose(gram_matrix(x), gram_matrix(shuffled), atol=1e-6)
    assert StyleLoss([x])(shuffled).item() < 1e-10


def test_content_loss_is_zero_at_target_and_positive_elsewhere() -> None:
    target, other = _feats(3), _feats(4)
    loss = ContentLoss(target)
    assert loss(target).item() == 0.0
    assert loss(other).item() > 0.01
    # relative error: scaling the features does not change a mismatch's loss
    assert torch.allclose(ContentLoss(10 * target)(10 * other), loss(other))


def test_style_loss_zero_at_target_and_per_image() -> None:
    target, other = _feats(5), _feats(6) * 2
    loss = StyleLoss([target])
    values = loss(torch.cat([target, other]))  # (2,)
    assert values.shape == (2,)
    assert values[0].item() < 1e-10 and values[1].item() > 0.1


def test_style_blend_targets_the_weighted_mean_gram() -> None:
    a, b = _feats(7), _feats(8) * 3
    blended = StyleLoss([a, b], blend=[3.0, 1.0])
    assert torch.allclose(blended.target, 0.75 * gram_matrix(a) + 0.25 * gram_matrix(b))


def test_tv_loss_zero_on_flat_image_and_positive_on_noise() -> None:
    tv = TVLoss()
    assert tv(torch.full((1, 3, 8, 8), 0.4)).item() == 0.0
    assert tv(_feats(9, (1, 3, 8, 8))).item() > 0.05
