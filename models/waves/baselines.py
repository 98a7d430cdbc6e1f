"""Classical baselines: persistence, linear autoregression and harmonic regression.

Each forecaster is fitted once on a training prefix, then ``predict_at(series, origins, horizon)`` forecasts
``series[o : o+horizon]`` for every origin ``o`` from ``series[:o]`` alone, which serves both the backtest
(many origins inside the held-out tail) and the final forecast (origin = len(series)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


def _tdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a.T @ b over the long first axis, in numpy's own loops rather than BLAS.

    These products are small (a few million multiply-adds); multithreaded BLAS gains nothing on them, and
    when another process holds the other core its spinning threads made a fit 100x slower (7.5 s vs 0.08 s).
    """
    return np.einsum("t...,tk->...k", a, b) if b.ndim == 2 else np.einsum("t...,t->...", a, b)


def _matvec(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("ti,i->t", a, v)


class Forecaster(Protocol):
    """What the backtest needs from a model."""

    def fit(self, train: np.ndarray) -> Forecaster: ...

    def predict_at(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray: ...


@dataclass
class Persistence:
    """Tomorrow equals today: the last observed value, held flat."""

    def fit(self, train: np.ndarray) -> Persistence:
        return self

    def predict_at(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        last = series[np.asarray(origins) - 1]  # (O, C)
        return np.repeat(last[:, None, :], horizon, axis=1)  # (O, H, C)


@dataclass
class Autoregression:
    """Per-channel AR(p) with intercept, fitted by least squares and iterated for multi-step forecasts.

    A sum of K sinusoids obeys an exact linear recurrence of order 2K, so a long enough AR is exact on clean
    waves; the small ridge keeps the nearly collinear lags of slow waves well conditioned.
    """

    order: int = 32
    ridge: float = 1e-8
    coef: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (C, p + 1)

    def fit(self, train: np.ndarray) -> Autoregression:
        n, channels = train.shape
        self.order = int(max(1, min(self.order, (n - 1) // 4)))
        p = self.order
        self.coef = np.zeros((channels, p + 1))
        for c in range(channels):
            x = train[:, c]
            # Row i holds x[i .. i+p-1] (oldest first) and a 1; the target is x[i+p].
            lags = np.lib.stride_tricks.sliding_window_view(x[:-1], p)  # (n-p, p)
            design = np.hstack([lags, np.ones((len(lags), 1))])  # (n-p, p+1)
            target = x[p:]  # (n-p,)
            gram = _tdot(design, design)  # (p+1, p+1)
            scale = np.trace(gram) / len(gram)
            self.coef[c] = np.linalg.solve(gram + self.ridge * scale * np.eye(p + 1), _tdot(design, target))
        return self

    def predict_at(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        p = self.order
        origins = np.asarray(origins)
        window = series[origins[:, None] + np.arange(-p, 0)]  # (O, p, C)
        out = np.empty((len(origins), horizon, series.shape[1]))  # (O, H, C)
        weights, bias = self.coef[:, :p].T, self.coef[:, p]  # (p, C), (C,)
        for h in range(horizon):
            nxt = np.einsum("opc,pc->oc", window, weights) + bias  # (O, C)
            out[:, h] = nxt
            window = np.concatenate([window[:, 1:], nxt[:, None]], axis=1)
        return out


_GOLDEN = (3.0 - np.sqrt(5.0)) / 2.0


def _parabola_step(x: float, w: float, v: float, fx: float, fw: float, fv: float) -> tuple[float, float]:
    """The step from x to the vertex of the parabola through (x, fx), (w, fw), (v, fv): (p, q), step = p / q."""
    r = (x - w) * (fx - fv)
    q = (x - v) * (fx - fw)
    p = (x - v) * q - (x - w) * r
    q = 2.0 * (q - r)
    return (-p, q) if q > 0.0 else (p, -q)


def _brent_min(fun: Callable[[float], float], lo: float, hi: float, xtol: float) -> float:
    """Minimise a unimodal function on [lo, hi] to ``xtol`` by Brent's method (golden section + parabolas).

    Near its minimum a smooth cost is a parabola, so the parabolic steps converge in a handful of calls
    where golden section alone needs one call per 0.618x shrink of the bracket (about 30 here).
    """
    x = w = v = lo + _GOLDEN * (hi - lo)
    fx = fw = fv = fun(x)
    step = last = 0.0
    for _ in range(100):
        mid, tol = 0.5 * (lo + hi), 1e-8 * abs(x) + xtol / 3.0
        if abs(x - mid) <= 2.0 * tol - 0.5 * (hi - lo):
            break
        p, q = _parabola_step(x, w, v, fx, fw, fv) if abs(last) > tol else (0.0, 0.0)
        if abs(last) > tol and abs(p) < abs(0.5 * q * last) and q * (lo - x) < p < q * (hi - x):
            last, step = step, p / q  # parabolic step
        else:
            last = (lo if x >= mid else hi) - x
            step = _GOLDEN * last  # golden-section step into the larger part
        u = x + (step if abs(step) >= tol else np.copysign(tol, step))
        fu = fun(u)
        if fu <= fx:
            lo, hi = (x, hi) if u >= x else (lo, x)
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            lo, hi = (lo, u) if u >= x else (u, hi)
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v in (x, w):
                v, fv = u, fu
    return x


def _design(t: np.ndarray, freqs: list[float]) -> np.ndarray:
    cols = [np.ones_like(t)]
    for f in freqs:
        cols += [np.cos(2 * np.pi * f * t), np.sin(2 * np.pi * f * t)]
    return np.stack(cols, axis=1)  # (T, 1 + 2F)


def _lstsq(t: np.ndarray, x: np.ndarray, freqs: list[float]) -> np.ndarray:
    design = _design(t, freqs)  # (T, 1 + 2F)
    coef, *_ = np.linalg.lstsq(_tdot(design, design), _tdot(design, x), rcond=None)
    return coef  # (1 + 2F,)


def _rss(t: np.ndarray, x: np.ndarray, freqs: list[float]) -> float:
    return float(np.sum((x - _matvec(_design(t, freqs), _lstsq(t, x, freqs))) ** 2))


class _Normal:
    """Least squares on [1, cos, sin, ...] columns through normal equations, cheap to update one pair at a time.

    Refining one frequency only changes two columns, so each trial costs O(T * F) instead of a fresh
    O(T * F^2) factorisation.
    """

    def __init__(self, t: np.ndarray, x: np.ndarray, freqs: list[float]) -> None:
        self.t, self.x, self.xx = t, x, float(np.dot(x, x))
        self.design = _design(t, freqs)  # (T, 1 + 2F)
        self.gram = _tdot(self.design, self.design)  # (1 + 2F, 1 + 2F)
        self.rhs = _tdot(self.design, x)  # (1 + 2F,)

    def rss(self) -> float:
        # A solve with a whisper of ridge, not lstsq's SVD: 10x faster, and this runs thousands of times per fit.
        gram = self.gram + 1e-12 * np.trace(self.gram) / len(self.gram) * np.eye(len(self.gram))
        coef = np.linalg.solve(gram, self.rhs)
        return max(self.xx - float(self.rhs @ coef), 0.0)

    def set_freq(self, i: int, f: float) -> None:
        cols = slice(1 + 2 * i, 3 + 2 * i)
        pair = np.stack([np.cos(2 * np.pi * f * self.t), np.sin(2 * np.pi * f * self.t)], axis=1)  # (T, 2)
        self.design[:, cols] = pair
        cross = _tdot(self.design, pair)  # (1 + 2F, 2)
        self.gram[:, cols] = cross
        self.gram[cols, :] = cross.T
        self.rhs[cols] = _tdot(pair, self.x)


@dataclass
class Harmonic:
    """Harmonic regression: frequencies picked greedily from the (zero-padded) FFT, refined, then least squares.

    Each channel gets its own frequencies; picking stops when a new sinusoid no longer removes at least
    ``min_gain`` of the remaining squared error, or at ``max_terms``. Only the last ``max_fit`` samples are
    used, which bounds the cost on long histories and still resolves periods far beyond the horizon.
    """

    max_terms: int = 8
    min_gain: float = 0.02
    max_fit: int = 4096
    freqs: list[list[float]] = field(default_factory=list)
    coef: list[np.ndarray] = field(default_factory=list)

    def fit(self, train: np.ndarray) -> Harmonic:
        t, first = self._steps(len(train))
        m = len(t)
        pad = 8 * int(2 ** np.ceil(np.log2(m)))
        self.freqs, self.coef = [], []
        for c in range(train.shape[1]):
            x = train[first:, c]
            freqs: list[float] = []
            rss = _rss(t, x, freqs)
            for _ in range(self.max_terms):
                resid = x - _matvec(_design(t, freqs), _lstsq(t, x, freqs))
                spectrum = np.abs(np.fft.rfft(resid * np.hanning(m), pad))  # (pad/2+1,)
                spectrum[0] = 0.0  # the mean is fitted separately
                trial = self._refine(t, x, freqs + [int(np.argmax(spectrum)) / pad], 2)
                trial_rss = _rss(t, x, trial)
                if rss <= 1e-24 * m * (1.0 + float(x @ x)) or trial_rss > (1.0 - self.min_gain) * rss:
                    break
                freqs, rss = trial, trial_rss
            self.freqs.append(freqs)
            self.coef.append(_lstsq(t, x, freqs))
        return self

    def refit(self, train: np.ndarray) -> Harmonic:
        """The same sinusoids on a longer history: each frequency refined once more, the amplitudes refitted."""
        t, first = self._steps(len(train))
        for c, freqs in enumerate(self.freqs):
            x = train[first:, c]
            self.freqs[c] = self._refine(t, x, freqs, 1) if freqs else freqs
            self.coef[c] = _lstsq(t, x, self.freqs[c])
        return self

    def _steps(self, n: int) -> tuple[np.ndarray, int]:
        """The absolute steps fitted (the last ``max_fit``), so predict_at needs no offset, and the first."""
        first = max(0, n - self.max_fit)
        return np.arange(first, n, dtype=np.float64), first

    @staticmethod
    def _refine(t: np.ndarray, x: np.ndarray, freqs: list[float], rounds: int) -> list[float]:
        """Coordinate descent on each frequency within one FFT bin, all amplitudes refitted jointly.

        The raw FFT peak is off by up to half a bin and biased by leakage from its neighbours; a frequency
        error grows linearly into the forecast, so the residual is minimised exactly instead.
        """
        freqs = list(freqs)
        normal = _Normal(t, x, freqs)
        width = 1.0 / len(t)
        for _ in range(rounds):
            for i in range(len(freqs)):

                def cost(f: float, i: int = i) -> float:
                    normal.set_freq(i, f)
                    return normal.rss()

                freqs[i] = _brent_min(cost, max(freqs[i] - width, 1e-9), freqs[i] + width, 1e-6 * width)
                normal.set_freq(i, freqs[i])
        return freqs

    def predict_at(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        origins = np.asarray(origins)
        steps = (origins[:, None] + np.arange(horizon)).astype(np.float64)  # (O, H)
        out = np.empty((len(origins), horizon, len(self.freqs)))  # (O, H, C)
        for c, (freqs, coef) in enumerate(zip(self.freqs, self.coef, strict=True)):
            out[:, :, c] = _matvec(_design(steps.ravel(), freqs), coef).reshape(steps.shape)
        return out


BASELINES: dict[str, type] = {"persistence": Persistence, "ar": Autoregression, "harmonic": Harmonic}
