"""Figures that say how a result relates to its inputs, for tests and benchmarks.

Each takes PIL images (the second resized to the first's size where they are compared pixel by pixel) and
returns a plain float, so a test on a 48-pixel synthetic image and a benchmark on a photograph read alike.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from models.nst import imaging
from models.nst.losses import gram_matrix
from models.nst.vgg import VGG19Features


def _grey(image: Image.Image, size: tuple[int, int] | None = None) -> np.ndarray:
    """Luminance (ITU-R 601, PIL's "L") as float, resized (box filter, i.e. area mean) to `size` = (W, H)."""
    grey = image.convert("L")
    if size is not None and grey.size != size:
        grey = grey.resize(size, Image.Resampling.BOX)
    return np.asarray(grey, dtype=np.float64)  # (H, W)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two arrays of one shape; 0 when either is constant."""
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def grey_correlation(result: Image.Image, reference: Image.Image) -> float:
    """Correlation of the full-resolution grey levels, the reference resized to the result's size."""
    return _correlation(_grey(result), _grey(reference, result.size))


def layout_correlation(result: Image.Image, reference: Image.Image, cells: int = 8) -> float:
    """Correlation of the two images' `cells` x `cells` low-pass luminance: near 0 for a texture, 1 for a copy."""
    return _correlation(_grey(result, (cells, cells)), _grey(reference, (cells, cells)))


def mean_saturation(image: Image.Image) -> float:
    """Mean HSV saturation, 0..1."""
    return float(np.asarray(image.convert("HSV"), dtype=np.float64)[..., 1].mean() / 255.0)


def flat_mask(reference: Image.Image, size: tuple[int, int], share: float = 0.25) -> np.ndarray:
    """The `share` of pixels where the reference (resized to `size`) is flattest: least local grey variation.

    Local variation is the 5x5 box variance of the grey levels, so an edge marks its neighbours too.
    """
    grey = _grey(reference, size)
    variance = _box(grey * grey, 2) - _box(grey, 2) ** 2  # (H, W)
    return variance <= np.quantile(variance, share)


def high_frequency_energy(image: Image.Image, mask: np.ndarray | None = None) -> float:
    """Mean squared difference (0..255 units, over RGB) between the image and its 3x3 box blur, in `mask`.

    A pixel-period pattern (the checkerboard of a pooling network's reconstruction) scores high; smooth
    gradients score near 0.
    """
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64)  # (H, W, 3)
    detail = np.stack([rgb[..., c] - _box(rgb[..., c], 1) for c in range(3)], axis=-1)
    energy = (detail**2).mean(-1)  # (H, W)
    return float(energy[mask].mean() if mask is not None else energy.mean())


def mean_abs_difference(result: Image.Image, reference: Image.Image) -> float:
    """Mean |result - reference| of the grey levels (0..255), the reference resized to the result's size."""
    return float(np.abs(_grey(result) - _grey(reference, result.size)).mean())


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over the (2r+1)^2 window around each pixel, edges replicated."""
    k = 2 * radius + 1
    padded = np.pad(x, radius, mode="edge")
    c = padded.cumsum(0).cumsum(1)
    c = np.pad(c, ((1, 0), (1, 0)))
    h, w = x.shape
    return (c[k : k + h, k : k + w] - c[:h, k : k + w] - c[k : k + h, :w] + c[:h, :w]) / (k * k)


@torch.no_grad()
def mean_square_activation(vgg: VGG19Features, image: Image.Image, layer: str) -> float:
    """Mean squared activation of `layer` for `image`: what the dream maximises."""
    x = imaging.to_tensor(image, device=vgg.norm.scale.device)  # (1, 3, H, W)
    return float(vgg(x, [layer])[layer].float().pow(2).mean())


JUDGE_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


@torch.no_grad()
def style_rel(vgg: VGG19Features, result: Image.Image, style: Image.Image) -> float:
    """Mean over conv1_1..conv5_1 of ‖G(result) - G(style)‖ / ‖G(style)‖, the style at the result's pixel count.

    The figure of benchmarks/nst_vs_pastiche.py (`vgg` must reach conv5_1).
    """
    w, h = result.size
    device = vgg.norm.scale.device
    out = vgg(imaging.to_tensor(result, device=device), JUDGE_STYLE_LAYERS)
    ref = vgg(imaging.to_tensor(style, imaging.pixels_size(*style.size, w * h), device), JUDGE_STYLE_LAYERS)
    rels = [(gram_matrix(out[n]) - gram_matrix(ref[n])).norm() / gram_matrix(ref[n]).norm() for n in JUDGE_STYLE_LAYERS]
    return float(sum(rels) / len(rels))
