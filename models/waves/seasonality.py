"""Seasonal periods (detected from the autocorrelation, or hinted) and a Fourier seasonal component.

Every model in the forecasting combination works on one channel at a time, on the *adjusted* series: the
(optionally log-transformed) values minus their seasonal component. The component is a least-squares sum of
sines and cosines at each period and its harmonics (as in TBATS and dynamic harmonic regression), so
non-integer periods (52.18 weeks a year) and several periods at once (a day and a week) need no special case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

MAX_PERIODS = 3
MAX_HARMONICS = 24  # a full profile for integer periods up to 48 (half-hours in a day)
RECENT_CYCLES = 8  # the component is fitted on the last 8 cycles of the longest period: seasons drift
_Z = 1.645  # the M4 seasonality test's 90% one-sided band (Bartlett standard error)


def acf(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelation at lags 0..max_lag, through the FFT."""
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    n = len(x)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(x, size)
    r = np.fft.irfft(spec * np.conj(spec), size)[: max_lag + 1]
    return r / r[0] if r[0] > 0 else np.zeros(max_lag + 1)


def _significant(r: np.ndarray, lag: int, n: int) -> bool:
    """The M4 seasonality test: r(lag) above the 90% Bartlett band."""
    se = np.sqrt((1.0 + 2.0 * np.sum(r[1:lag] ** 2)) / n)
    return bool(r[lag] > _Z * se)


def _peaks(r: np.ndarray, n: int, max_period: int) -> list[tuple[float, int]]:
    """(strength, lag) of significant local maxima of r that stand out from the dip before them."""
    out = []
    for lag in range(2, min(max_period, len(r) - 2) + 1):
        if not (r[lag] > r[lag - 1] and r[lag] >= r[lag + 1] and r[lag] >= 0.2):
            continue
        dip = float(np.min(r[max(2, lag // 2) : lag])) if lag > 2 else 0.0
        if r[lag] - dip > 0.1 and _significant(r, lag, n):
            out.append((float(r[lag]), lag))
    return out


def _echo(lag: int, base: float, r: np.ndarray) -> bool:
    """Whether ``lag`` only repeats the accepted period ``base``.

    A divisor is an echo when all its harmonics are among the base's Fourier terms (6 and 4 of a 12-month
    season). A multiple is an echo unless the autocorrelation bumps there over the base's neighbouring
    multiples: a week (336 half-hours) stands out of the train of daily (48) peaks; 24 months does not.
    """
    if lag < base:
        k = base / lag
        return abs(k - round(k)) < 0.02 * k and round(k) * harmonics_for(lag, 10**9) <= harmonics_for(base, 10**9)
    k = lag / base
    if abs(k - round(k)) * base >= max(1.0, 0.02 * lag):
        return False
    k = round(k)
    neighbours = [int(round(j * base)) for j in (k - 1, k + 1) if 1 <= round(j * base) < len(r)]
    return not neighbours or r[lag] < max(r[j] for j in neighbours) + 0.05


def _candidates(acfs: list[np.ndarray], n: int, max_period: int) -> list[tuple[float, int, int]]:
    """(strength, lag, which autocorrelation) of every peak, strongest first, less the echoes of shorter peaks.

    A multiple of a shorter peak nearly as strong (85%) is its echo even when it is a little stronger
    (8 quarters against 4), unless it bumps above its neighbours (see ``_echo``).
    """
    cands = [(strength, lag, i) for i, r in enumerate(acfs) for strength, lag in _peaks(r, n - 1 + i, max_period)]

    def echo(c: tuple[float, int, int]) -> bool:
        return any(
            d[1] < c[1] and d[0] >= 0.85 * c[0] and d[2] == c[2] and _echo(c[1], d[1], acfs[c[2]]) for d in cands
        )

    return sorted((c for c in cands if not echo(c)), reverse=True)


def detect_periods(x: np.ndarray, hints: Sequence[float] = (), max_periods: int = MAX_PERIODS) -> list[float]:
    """Seasonal periods of a 1-D series, strongest first; every period fits at least twice in the series.

    Candidates are the significant peaks of the autocorrelation of the first differences (which removes a
    trend) and of the linearly detrended series (which keeps slow, noisy cycles that differencing drowns).
    Echoes of a stronger accepted period (see ``_echo``) and peaks under half the strongest are dropped.
    ``hints`` are taken as given (if they fit twice) and come first.
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    max_period = n // 2
    chosen = [float(h) for h in hints if 2 <= h <= max_period][:max_periods]
    if n < 8:
        return chosen
    t = np.arange(n, dtype=np.float64)
    detrended = x - np.polyval(np.polyfit(t, x, 1), t)
    acfs = [acf(np.diff(x), min(max_period, n - 2)), acf(detrended, max_period)]
    cands = _candidates(acfs, n, max_period)
    for strength, lag, i in cands:
        if len(chosen) >= max_periods or strength < 0.5 * cands[0][0]:
            break
        if any(_echo(lag, p, acfs[i]) or abs(lag - p) < max(1.0, 0.02 * lag) for p in chosen):
            continue
        chosen.append(float(lag))
    return chosen


def fourier(t: np.ndarray, periods: Sequence[float], harmonics: Sequence[int]) -> np.ndarray:
    """Columns cos/sin(2 pi k t / p) for each period p and k = 1..K_p: (T, 2 sum K).

    The harmonics are powers of exp(2 pi i t / p), a complex product each instead of a cosine and a sine;
    every 8th power is computed afresh, so rounding cannot build up (errors stay near 1e-12).
    """
    t = np.asarray(t, dtype=np.float64)
    blocks = []
    for p, k_max in zip(periods, harmonics, strict=True):
        if k_max < 1:
            continue
        base = np.exp(2j * np.pi * t / p)  # (T,)
        powers = np.empty((len(t), k_max), dtype=np.complex128)  # (T, K): column k-1 holds exp(2 pi i k t / p)
        powers[:, 0] = base
        for k in range(2, k_max + 1):
            powers[:, k - 1] = np.exp(2j * np.pi * k * t / p) if k % 8 == 0 else powers[:, k - 2] * base
        blocks.append(powers.view(np.float64))  # (T, 2K): cos, sin interleaved
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((len(t), 0))


def harmonics_for(period: float, n: int) -> int:
    """Harmonics of one period: a full profile for short integer periods, at most 24, fewer on short data."""
    k = min(MAX_HARMONICS, int(period // 2))
    return max(1, min(k, (n // 4) // 2))


def _trend(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average over ``width`` steps (2 x width when even), NaN at the ends."""
    w = max(1, int(round(width)))
    kernel = np.ones(w) / w
    if w % 2 == 0:
        kernel = np.convolve(kernel, np.ones(2) / 2)
    out = np.full(len(x), np.nan)
    k = len(kernel)
    if len(x) >= k:
        out[k // 2 : len(x) - k // 2] = np.convolve(x, kernel, mode="valid")
    return out


@dataclass
class Seasonal:
    """A fitted Fourier seasonal component: ``component(t)`` for any absolute step t."""

    periods: list[float] = field(default_factory=list)
    harmonics: list[int] = field(default_factory=list)
    coef: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def fit(cls, x: np.ndarray, periods: Sequence[float]) -> Seasonal:
        """Least squares of the detrended series on the Fourier columns of ``periods``."""
        n = len(x)
        periods = [p for p in periods if 2 <= p <= n / 2]
        if not periods:
            return cls()
        harmonics = [harmonics_for(p, n) for p in periods]
        trend = _trend(x, int(round(max(periods))))
        ok = np.isfinite(trend)
        if ok.sum() < 2 * sum(harmonics) + 4:  # too short for a moving average: detrend with a line
            t = np.arange(n, dtype=np.float64)
            trend, ok = np.polyval(np.polyfit(t, x, 1), t), np.ones(n, dtype=bool)
        ok[: max(0, n - int(RECENT_CYCLES * max(periods)))] = False
        t = np.arange(n, dtype=np.float64)[ok]
        design = fourier(t, periods, harmonics)  # (T', 2K)
        target = (x - trend)[ok]
        # numpy's own loops, not BLAS: threaded BLAS spins when another process holds the other core.
        gram, rhs = np.einsum("ti,tj->ij", design, design), np.einsum("ti,t->i", design, target)
        coef = np.linalg.solve(gram + 1e-8 * np.trace(gram) / len(gram) * np.eye(len(gram)), rhs)
        return cls(list(periods), harmonics, coef)

    def component(self, t: np.ndarray) -> np.ndarray:
        if not self.periods:
            return np.zeros(len(t))
        return fourier(np.asarray(t, dtype=np.float64), self.periods, self.harmonics) @ self.coef
