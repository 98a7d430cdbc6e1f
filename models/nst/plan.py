"""The plan of a style job: its scales, the steps of each, and which scales run in tiles of what size.

Up to `REFERENCE` px the schedule is the coarse-to-fine one of `scales.py`, unchanged. A larger output first
runs that same schedule up to `REFERENCE` (the composition forms there, cheaply), then refines at each
doubling with a few steps, fewer at the larger scales, where only detail is left to add.

Memory: a scale whose whole image would not fit the budget is optimised in overlapping tiles
(`tiled.py`), the fewest tiles that fit, none larger than `MAX_PIECE_PIXELS` (past that size tiles
save no time and only cost memory). The model of a job's peak memory is `BASE_BYTES`, plus bytes per
output pixel for the whole-image buffers, plus bytes per pixel of the piece being optimised (VGG's
activations for the forward and backward pass, and the L-BFGS history). Measured: benchmarks/README.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from models.nst import imaging
from models.nst.scales import plan as coarse_to_fine
from models.nst.tiles import Tile, grid_for, layout

REFERENCE = 512  # the reference print: larger outputs keep its composition and stroke scale
# Steps per scale above the reference, for iterations=150, keyed by the scale's longest edge rounded to a
# power-of-two multiple of REFERENCE; they scale with `iterations` (at least 1 each).
REFINE_STEPS = {1024: 16, 2048: 6, 4096: 6}
DEFAULT_ITERATIONS = 150

# Tiles: the most pixels optimised at once even when memory allows more, the fewest worth tiling with, the
# overlap between neighbours and the fixed context (halo) within it, in px.
MAX_PIECE_PIXELS = 1024 * 1024
MIN_PIECE_PIXELS = 256 * 256
OVERLAP = 96
HALO = 16

# The memory model (bytes), measured with bf16 activations on the CPU (benchmarks/README.md).
BASE_BYTES = 900 * 2**20  # interpreter, torch, VGG-19 weights and the allocator's slack
IMAGE_BYTES_PER_PX = 96  # per output pixel and image of the batch: image, content, previews, the PNG
STYLE_BYTES_PER_PX = 12  # per style pixel (fp32 RGB), held for the whole job
ACTIVATION_BYTES_PER_PX = 2600  # per pixel optimised at once: VGG-19 to conv5_1, forward and backward
FORWARD_BYTES_PER_PX = 600  # per pixel of a forward pass without gradients (the style's Gram targets)
LBFGS_BYTES_PER_PX_STEP = 24  # per pixel and step kept: one (s, y) pair of fp32 RGB values


@dataclass(frozen=True)
class Footprint:
    """What besides the pixels sizes a job's memory: images optimised at once, and the style images."""

    batch: int = 1  # sweep tiles optimised as one batch
    styles: int = 1  # style images
    style_scale: float = 1.0  # each style image has style_scale² times the output's pixels

    @property
    def ratio(self) -> float:
        """A style image's pixels per output pixel."""
        return self.style_scale**2


@dataclass(frozen=True)
class Scale:
    """One scale of the plan: its size (W, H), its steps, and its grid of tiles (rows, cols; None: in one piece)."""

    size: tuple[int, int]
    steps: int
    grid: tuple[int, int] | None = None
    overlap: int = OVERLAP
    halo: int = HALO

    @property
    def pixels(self) -> int:
        return self.size[0] * self.size[1]

    def tiles(self) -> list[Tile]:
        """The tiles of this scale, row by row (one covering the whole image when not tiled)."""
        w, h = self.size
        rows, cols = self.grid or (1, 1)
        return layout(h, w, rows, cols, self.overlap, self.halo)

    def tile_steps(self) -> int:
        """Optimisation steps on tiles (each tile gets `steps`); `steps` when in one piece."""
        return self.steps * len(self.tiles())


class Unplannable(ValueError):
    """The job cannot be planned within the memory it may use."""


def schedule(size: int, scales: int, iterations: int, final_share: float, min_size: int = 0) -> list[tuple[int, int]]:
    """(longest edge, steps) per scale, coarse to fine: the usual schedule up to REFERENCE, then refinements.

    `min_size`: the smallest longest edge a scale may have (`scales.plan`: coarser ones are skipped)."""
    if size <= REFERENCE:
        return coarse_to_fine(size, scales, iterations, final_share, min_size=min_size)
    head = coarse_to_fine(REFERENCE, scales, iterations, final_share, min_size=min_size)
    doublings = math.ceil(math.log2(size / REFERENCE) - 1e-9)
    edges = [round(REFERENCE * (size / REFERENCE) ** (i / doublings)) for i in range(1, doublings + 1)]
    return head + [(edge, refine_steps(edge, iterations)) for edge in edges]


def refine_steps(edge: int, iterations: int) -> int:
    """The steps of a refining scale of longest edge `edge`, in proportion to `iterations`."""
    key = min(REFINE_STEPS, key=lambda k: abs(math.log2(edge / k)))
    return max(1, round(REFINE_STEPS[key] * iterations / DEFAULT_ITERATIONS))


def peak_bytes(
    out_pixels: int, piece_pixels: int, steps: int, job: Footprint = Footprint(), style_pixels: int | None = None
) -> int:
    """The modelled peak memory of optimising `piece_pixels` at once, in a job of `out_pixels` output.

    The style's Gram targets go through the network in pieces of `style_pixels` (default: `piece_pixels`, as
    the tiles of a tiled scale do; a scale in one piece passes its whole style image at once).
    """
    held = BASE_BYTES + out_pixels * (IMAGE_BYTES_PER_PX * job.batch + STYLE_BYTES_PER_PX * job.styles * job.ratio)
    optimise = (ACTIVATION_BYTES_PER_PX + LBFGS_BYTES_PER_PX_STEP * steps) * piece_pixels * job.batch
    forward = FORWARD_BYTES_PER_PX * (piece_pixels if style_pixels is None else style_pixels)
    return int(held + max(optimise, forward))


def plan_job(
    out_size: tuple[int, int], steps: list[tuple[int, int]], budget: int | None, job: Footprint = Footprint()
) -> list[Scale]:
    """Each scale's size and grid: in one piece when it fits `budget` bytes (None: no limit) and
    MAX_PIECE_PIXELS, else in the fewest overlapping tiles that do. Raises Unplannable when none fits."""
    out_pixels = out_size[0] * out_size[1]
    plan = []
    for longest, n in steps:
        size = imaging.fit_size(*out_size, longest)
        pixels = size[0] * size[1]
        most = min(MAX_PIECE_PIXELS, _piece_limit(out_pixels, n, job, budget))
        whole = peak_bytes(out_pixels, pixels, n, job, style_pixels=int(pixels * job.ratio))
        if pixels <= most and (budget is None or whole <= budget):
            plan.append(Scale(size, n))
            continue
        grid = grid_for(size[1], size[0], most, OVERLAP, HALO) if most >= MIN_PIECE_PIXELS else None
        if grid is None:
            need = peak_bytes(out_pixels, MIN_PIECE_PIXELS, n, job)
            raise Unplannable(
                f"a {out_size[0]}x{out_size[1]} output needs about {need / 2**20:.0f} MB even in the smallest "
                f"tiles; this worker may use {(budget or 0) / 2**20:.0f} MB"
            )
        plan.append(Scale(size, n, grid))
    return plan


def _piece_limit(out_pixels: int, steps: int, job: Footprint, budget: int | None) -> int:
    """The most pixels one piece may have within `budget` (the held images counted first)."""
    if budget is None:
        return MAX_PIECE_PIXELS
    held = peak_bytes(out_pixels, 0, 0, job)
    per_pixel = max((ACTIVATION_BYTES_PER_PX + LBFGS_BYTES_PER_PX_STEP * steps) * job.batch, FORWARD_BYTES_PER_PX)
    return max(0, (budget - held) // per_pixel)


def check_whole(out_size: tuple[int, int], budget: int | None) -> None:
    """Raise Unplannable unless an output of `out_size` fits `budget` in one piece (DeepDream is not tiled)."""
    pixels = out_size[0] * out_size[1]
    need = peak_bytes(pixels, pixels, 0)
    if budget is not None and need > budget:
        raise Unplannable(
            f"a {out_size[0]}x{out_size[1]} dream needs about {need / 2**20:.0f} MB; "
            f"this worker may use {budget / 2**20:.0f} MB"
        )


def step_costs(scales: list[Scale]) -> list[float]:
    """The relative cost of each step of a plan, in order: the pixels it optimises (`scales.step_costs`),
    a tile's own pixels for each step on a tile, so that progress weighted by them tracks time."""
    return [float(t.pixels) for s in scales for t in s.tiles() for _ in range(s.steps)]


def largest_size(budget: int, limit: int = 16384, tiled: bool = True) -> int:
    """The largest square output (a multiple of 16, at most `limit`) a default job can be planned for in `budget`.

    `tiled=False`: in one piece, as DeepDream runs. Square is the worst case of a given longest edge.
    """

    def fits(edge: int) -> bool:
        try:
            if tiled:
                plan_job((edge, edge), schedule(edge, 3, DEFAULT_ITERATIONS, 0.25), budget)
            else:
                check_whole((edge, edge), budget)
        except Unplannable:
            return False
        return True

    lo, hi = 0, limit // 16  # in units of 16 px; the memory needed grows with the edge, so bisect
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid * 16) else (lo, mid - 1)
    return lo * 16
