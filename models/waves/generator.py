"""Periodic wave generator: sums of sines and cosines per channel, with optional noise.

Channel c at step t is ``offset_c + sum_k amplitude_k * fn_k(phase_k + 2*pi*t/period_k)``, plus optional
Gaussian noise: the contract in DESIGN.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FUNCTIONS = {"sin": np.sin, "cos": np.cos}


@dataclass
class Term:
    """One sinusoid: ``amplitude * fn(phase + 2*pi*t/period)``."""

    fn: str
    amplitude: float
    period: float
    phase: float = 0.0

    def __post_init__(self) -> None:
        if self.fn not in FUNCTIONS:
            raise ValueError(f"fn must be one of {sorted(FUNCTIONS)}, got {self.fn!r}")
        if not self.period > 0:
            raise ValueError(f"period must be > 0, got {self.period}")


@dataclass
class Wave:
    """One channel: a constant offset plus a sum of sinusoidal terms."""

    offset: float = 0.0
    terms: list[Term] = field(default_factory=list)


# The seed experiment's two channels, with the phases of DESIGN.md's example:
# a1 = 0.2 + 2*pi*t/300, a2 = 0.7 + 2*pi*t/200.
ORIGINAL_WAVES: list[Wave] = [
    Wave(5.0, [Term("sin", 5.0, 300.0, 0.2), Term("cos", 10.0, 200.0, 0.7)]),
    Wave(7.0, [Term("sin", 7.0, 200.0, 0.7), Term("cos", 14.0, 300.0, 0.2)]),
]


def generate(waves: list[Wave], start: int, length: int, noise_std: float = 0.0, seed: int | None = 0) -> np.ndarray:
    """Sample steps ``start .. start+length-1`` of every wave: an array (length, C), float64."""
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    if not waves:
        raise ValueError("at least one wave is needed")
    t = np.arange(start, start + length, dtype=np.float64)  # (T,)
    out = np.empty((length, len(waves)), dtype=np.float64)  # (T, C)
    for c, wave in enumerate(waves):
        x = np.full(length, float(wave.offset))
        for term in wave.terms:
            x += term.amplitude * FUNCTIONS[term.fn](term.phase + 2.0 * np.pi * t / term.period)
        out[:, c] = x
    if noise_std > 0:
        out += np.random.default_rng(seed).normal(0.0, noise_std, size=out.shape)
    return out
