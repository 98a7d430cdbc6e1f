"""Overlapping tiles: the layout, the blending weights, and the per-layer loss masks.

An image too large to optimise in one piece is optimised tile by tile. The tiles overlap, and their
blending weights form a partition of unity (at every pixel the weights of the tiles covering it sum to 1):
each weight is 1 in the tile's own part, 0 on a `halo` along its inner edges (context the tile reads but
never writes, where VGG's zero padding distorts the features most) and a raised-cosine ramp in between.
A tile writes back its change times its weight, so neighbouring updates fade into each other and no seam
shows; an identity update reassembles the image exactly.

Tile edges start on multiples of `ALIGN` pixels, so the pooling windows of every VGG layer inside a tile
line up with those of the whole image: away from its edges a tile's features equal the image's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

ALIGN = 16  # four 2x poolings before conv5_1: tile origins on this grid keep every layer's grid aligned


@dataclass(frozen=True)
class Span:
    """One tile's extent along an axis: [start, end), and the blending ramps at its two ends."""

    start: int
    end: int
    fade_in: tuple[int, int] | None  # [a, b): weight rises 0 -> 1 (None: no neighbour before)
    fade_out: tuple[int, int] | None  # [a, b): weight falls 1 -> 0 (None: no neighbour after)

    def weights(self) -> torch.Tensor:
        """The weight of this span at each of its positions, (end - start,)."""
        pos = torch.arange(self.start, self.end, dtype=torch.float64)
        w = torch.ones_like(pos)
        if self.fade_in is not None:
            w = w * _ramp(pos, *self.fade_in)
        if self.fade_out is not None:
            w = w * (1 - _ramp(pos, *self.fade_out))
        return w.float()


def _ramp(pos: torch.Tensor, a: int, b: int) -> torch.Tensor:
    """0 before a, 1 from b on, a raised cosine in between (so the ramps of two neighbours sum to 1)."""
    u = ((pos - a + 0.5) / max(b - a, 1)).clamp(0, 1)
    return 0.5 - 0.5 * torch.cos(math.pi * u)


def spans(length: int, count: int, overlap: int, halo: int, align: int = ALIGN) -> list[Span]:
    """`count` tiles of equal length (the last up to align - 1 longer) along an axis, overlapping >= `overlap`.

    Starts are multiples of `align`, and only consecutive tiles overlap. In each shared stretch the first
    `halo` positions belong to the earlier tile alone, the last `halo` to the later one, and a ramp hands one
    over to the other in between.
    """
    if count <= 1:
        return [Span(0, length, None, None)]
    if not 2 * halo < overlap:
        raise ValueError(f"need 2 * halo < overlap ({overlap=}, {halo=})")
    tile = -(-(length + (count - 1) * overlap) // count)  # ceil: n tiles of this length overlap by `overlap`
    tile = -(-tile // align) * align
    while True:
        last = (length - tile) // align * align  # the last start: the last tile may be up to align-1 longer
        starts = [round(i * last / (count - 1) / align) * align for i in range(count)]
        ends = [s + tile for s in starts[:-1]] + [length]
        if all(ends[i] - starts[i + 1] >= overlap for i in range(count - 1)):
            break
        tile += align
    if any(ends[i] > starts[i + 2] for i in range(count - 2)) or last < 0:
        raise ValueError(f"{count} tiles overlapping by {overlap} do not fit along {length} px")
    out = []
    for i in range(count):
        fade_in = (starts[i] + halo, ends[i - 1] - halo) if i > 0 else None
        fade_out = (starts[i + 1] + halo, ends[i] - halo) if i < count - 1 else None
        out.append(Span(starts[i], ends[i], fade_in, fade_out))
    return out


@dataclass(frozen=True)
class Tile:
    """One tile of an image: its window and its blending weight (1, 1, h, w)."""

    y: Span
    x: Span

    @property
    def window(self) -> tuple[slice, slice]:
        return slice(self.y.start, self.y.end), slice(self.x.start, self.x.end)

    @property
    def pixels(self) -> int:
        return (self.y.end - self.y.start) * (self.x.end - self.x.start)

    def weight(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """The tile's blending weight, (1, 1, h, w): the outer product of its two spans' weights."""
        return torch.outer(self.y.weights(), self.x.weights()).to(device)[None, None]

    def crop(self, image: torch.Tensor) -> torch.Tensor:
        """The tile's window of a (B, C, H, W) image (a view)."""
        ys, xs = self.window
        return image[..., ys, xs]


def layout(height: int, width: int, rows: int, cols: int, overlap: int, halo: int) -> list[Tile]:
    """The rows x cols tiles of a height x width image, row by row (1 x 1: the whole image)."""
    return [Tile(r, c) for r in spans(height, rows, overlap, halo) for c in spans(width, cols, overlap, halo)]


def grid_for(height: int, width: int, max_pixels: int, overlap: int, halo: int) -> tuple[int, int] | None:
    """The (rows, cols) whose tiles cover the fewest pixels in all, none over `max_pixels`; None if none does."""
    best: tuple[int, tuple[int, int]] | None = None
    for rows in range(1, max(1, height // (2 * overlap)) + 1):
        for cols in range(1, max(1, width // (2 * overlap)) + 1):
            try:
                ys, xs = spans(height, rows, overlap, halo), spans(width, cols, overlap, halo)
            except ValueError:
                continue
            largest = max(y.end - y.start for y in ys) * max(x.end - x.start for x in xs)
            total = sum(y.end - y.start for y in ys) * sum(x.end - x.start for x in xs)
            if largest <= max_pixels and (best is None or total < best[0]):
                best = (total, (rows, cols))
    return None if best is None else best[1]


def layer_masks(weight: torch.Tensor, layers: dict[str, int]) -> dict[str, torch.Tensor]:
    """The blending weight (1, 1, h, w) averaged onto each layer's grid; `layers` maps name -> stride."""
    return {name: F.avg_pool2d(weight, stride) if stride > 1 else weight for name, stride in layers.items()}
