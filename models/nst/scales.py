"""The coarse-to-fine schedule as plain functions: the sizes of the scales and the steps each one gets.

The image is optimised at a small size, upsampled, and used as the next scale's start, so most iterations
run where they are cheap.
"""

from __future__ import annotations

MIN_SCALE_SIZE = 64  # below this VGG's deepest layers see only a pixel or two


def scale_sizes(size: int, scales: int, factor: float = 2.0, min_size: int = MIN_SCALE_SIZE) -> list[int]:
    """Longest edges of the scales, coarse to fine, ending at `size`, each `factor` apart (never < min_size)."""
    if scales < 1:
        raise ValueError("scales must be at least 1")
    first = max(min(min_size, size), size / factor ** (scales - 1))
    if scales == 1:
        return [size]
    ratio = (size / first) ** (1 / (scales - 1))
    sizes = [round(first * ratio**i) for i in range(scales - 1)] + [size]
    return sorted(set(sizes))  # a small output may collapse scales onto one size


def split_iterations(total: int, scales: int, final_share: float = 0.5) -> list[int]:
    """Iterations per scale: the finest gets `final_share`, the coarser ones split the rest equally.

    A coarse iteration costs a quarter (or less) of a fine one, and fixes the large structures that are
    slowest to form at full size, so coarse scales get more steps per unit of time.
    """
    if total < scales:
        raise ValueError(f"iterations ({total}) must be at least the number of scales ({scales})")
    if scales == 1:
        return [total]
    final = max(1, round(total * final_share))
    rest = total - final
    coarse = [rest // (scales - 1) + (1 if i < rest % (scales - 1) else 0) for i in range(scales - 1)]
    return [*coarse, final]


def plan(
    size: int, scales: int, iterations: int, final_share: float, factor: float = 2.0, min_size: int = MIN_SCALE_SIZE
) -> list[tuple[int, int]]:
    """(longest edge, steps) per scale, coarse to fine; with fewer steps than scales the coarsest are dropped."""
    sizes = scale_sizes(size, scales, factor, max(min_size, MIN_SCALE_SIZE))[-iterations:]
    return list(zip(sizes, split_iterations(iterations, len(sizes), final_share), strict=True))


def step_costs(schedule: list[tuple[int, int]]) -> list[float]:
    """The relative cost of each step of a schedule of (longest edge, steps): its pixel count.

    A step is one forward and backward pass through VGG, whose work grows with the pixels (the edge
    squared, at a fixed aspect): a step at 512 px costs about 4 steps at 256 and 16 at 128. Progress
    weighted by these costs is a fraction of the time, where counting steps would race through the cheap
    coarse scales and crawl through the last one.
    """
    return [float(edge * edge) for edge, steps in schedule for _ in range(steps)]
