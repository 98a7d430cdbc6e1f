"""Classical forecasters in numpy: exponential smoothing (simple, Holt, damped), Theta, AR, (seasonal) naive.

They follow the fit / predict_at interface of the other forecasters on (T, C) arrays, one channel at a time:
``fit`` chooses the parameters on a training prefix, ``predict_at(series, origins, horizon)`` runs the filter
over the series and forecasts from the state just before each origin, so one pass serves every backtest origin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_ALPHAS = np.array([0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
_BETAS = np.array([0.0, 0.01, 0.03, 0.1, 0.2])
_PHIS = np.array([0.98, 0.95, 0.9, 0.8])  # least damping first: it wins exact ties
_HW_PHIS = np.array([1.0, 0.98, 0.95, 0.9])
_GAMMAS = np.array([0.01, 0.05, 0.1, 0.3])
_MAX_FIT = 1000  # parameters are chosen on at most the last 1000 steps: enough, and bounded on long series


def _filter(
    y: np.ndarray, alpha: np.ndarray, beta: np.ndarray, phi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run damped-trend exponential smoothing for G parameter sets at once.

    ``y`` is one series (T,) for every parameter set, or one column per set (T, G): the channels of a
    multi-channel series then share the loop over time. Returns the levels and trends after each step,
    (T, G) each, and the one-step errors (T, G), the first two of which (initialisation) are zero.
    """
    n, g = len(y), len(alpha)
    ahead = min(n - 1, 3)
    level, trend = y[0] * np.ones(g), (y[ahead] - y[0]) / max(1, ahead) * np.ones(g)
    trend = np.where(beta > 0, trend, 0.0)
    levels, trends, errors = np.empty((n, g)), np.empty((n, g)), np.zeros((n, g))
    levels[0], trends[0] = level, trend
    for t in range(1, n):
        pred = level + phi * trend
        err = y[t] - pred
        # Error-correction form: b_t = beta * (l_t - l_{t-1}) + (1 - beta) * phi * b_{t-1} = phi * b + alpha * beta * e
        level = pred + alpha * err
        trend = phi * trend + alpha * beta * err
        levels[t], trends[t], errors[t] = level, trend, err
    return levels, trends, errors


def _grid(kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if kind == "ses":
        return _ALPHAS, np.zeros_like(_ALPHAS), np.ones_like(_ALPHAS)
    a, b, p = np.meshgrid(_ALPHAS, _BETAS[1:], _PHIS if kind == "damped" else np.ones(1), indexing="ij")
    return a.ravel(), b.ravel(), p.ravel()


@dataclass
class Smoothing:
    """Exponential smoothing of ``kind`` ses | holt | damped, parameters by one-step squared error on a grid."""

    kind: str = "damped"
    params: list[tuple[float, float, float]] = field(default_factory=list)  # (alpha, beta, phi) per channel

    def fit(self, train: np.ndarray) -> Smoothing:
        y = train[-_MAX_FIT:]  # (T, C)
        channels = y.shape[1]
        alpha, beta, phi = _grid(self.kind)  # (G,) each
        g = len(alpha)
        # Every channel with every parameter set in one pass: column c * G + i is channel c, set i.
        _, _, errors = _filter(np.repeat(y, g, axis=1), *(np.tile(v, channels) for v in (alpha, beta, phi)))
        best = np.argmin(np.sum(errors[2:] ** 2, axis=0).reshape(channels, g), axis=1)  # (C,)
        self.params = [(float(alpha[i]), float(beta[i]), float(phi[i])) for i in best]
        return self

    def predict_at(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        origins = np.asarray(origins)
        alpha, beta, phi = (np.array(v) for v in zip(*self.params, strict=True))  # (C,) each
        first = max(0, int(origins.min()) - 4 * _MAX_FIT)  # the state forgets older steps geometrically
        levels, trends, _ = _filter(series[first : int(origins.max())], alpha, beta, phi)  # (T', C) each
        damp = np.cumsum(phi ** np.arange(1, horizon + 1)[:, None], axis=0)  # (H, C)
        state = origins - 1 - first
        return levels[state][:, None, :] + trends[state][:, None, :] * damp  # (O, H, C)


def _hw_filter(
    y: np.ndarray,
    season0: np.ndarray,
    start: int,
    alpha: np.ndarray,
    beta: np.ndarray,
    phi: np.ndarray,
    gamma: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Additive damped Holt-Winters for G parameter sets over y, whose first value is absolute step ``start``.

    ``season0[j]`` is the initial index of the phase j = t % m. Returns levels and trends (T, G), the
    seasonal states after each step (T, m, G) and the one-step errors (T, G).
    """
    n, g, m = len(y), len(alpha), len(season0)
    season = np.repeat(season0[:, None], g, axis=1)  # (m, G)
    # Level and trend start from a line through the first two seasons, less their seasonal indices.
    k = min(n, 2 * m)
    steps = np.arange(k, dtype=np.float64)
    slope, icpt = np.polyfit(steps, y[:k] - season0[(start + np.arange(k)) % m], 1) if k >= 2 else (0.0, y[0])
    level, trend = np.full(g, icpt - slope), np.full(g, slope)  # the state just before the first step
    levels, trends, errors = np.empty((n, g)), np.empty((n, g)), np.zeros((n, g))
    seasons = np.empty((n, m, g) if g == 1 else (0, m, g))  # the states' history only for one parameter set
    for t in range(n):
        j = (start + t) % m
        pred = level + phi * trend + season[j]
        err = y[t] - pred
        level = level + phi * trend + alpha * err
        trend = phi * trend + alpha * beta * err
        season[j] = season[j] + gamma * (1 - alpha) * err
        levels[t], trends[t], errors[t] = level, trend, err
        if g == 1:
            seasons[t] = season
    return levels, trends, seasons, errors


@dataclass
class HoltWinters:
    """Additive damped Holt-Winters with one integer ``period`` (log it for multiplicative seasonality).

    Unlike the Fourier component of the adjusted series, its seasonal indices evolve with the data.
    Parameters by one-step squared error on a grid; the seasonal states start from the mean profile.
    """

    period: int
    params: list[tuple[float, float, float, float]] = field(default_factory=list)
    season0: list[np.ndarray] = field(default_factory=list)  # initial index per absolute phase t % m

    def fit(self, train: np.ndarray) -> HoltWinters:
        m = self.period
        self.params, self.season0 = [], []
        grid = [v.ravel() for v in np.meshgrid(_ALPHAS[:-1], _BETAS, _HW_PHIS, _GAMMAS, indexing="ij")]
        for c in range(train.shape[1]):
            cycles = min(len(train), _MAX_FIT) // m
            seg = train[len(train) - cycles * m :, c]  # whole seasons at the end
            steps = np.arange(len(seg), dtype=np.float64)
            flat = seg - np.polyval(np.polyfit(steps, seg, 1), steps)  # less its trend
            profile = flat.reshape(cycles, m).mean(axis=0)
            profile -= profile.mean()  # (m,)
            season0 = np.empty(m)
            season0[(len(train) - cycles * m + np.arange(m)) % m] = profile
            start = max(0, len(train) - _MAX_FIT)
            *_, errors = _hw_filter(train[start:, c], season0, start, *grid)
            best = int(np.argmin(np.sum(errors[m:] ** 2, axis=0)))
            self.params.append(tuple(float(v[best]) for v in grid))  # type: ignore[arg-type]
            self.season0.append(season0)
        return self

    def predict_at(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        origins = np.asarray(origins)
        m = self.period
        out = np.empty((len(origins), horizon, series.shape[1]))  # (O, H, C)
        steps = np.arange(1, horizon + 1)
        for c, params in enumerate(self.params):
            start = max(0, int(origins.min()) - 4 * _MAX_FIT)
            y = series[start : int(origins.max()), c]
            levels, trends, seasons, _ = _hw_filter(y, self.season0[c], start, *(np.array([v]) for v in params))
            last = origins - 1 - start
            damp = np.cumsum(params[2] ** steps)  # (H,)
            phase = (origins[:, None] + np.arange(horizon)) % m  # (O, H)
            seas = seasons[last[:, None], phase, 0]  # (O, H)
            out[:, :, c] = levels[last, 0][:, None] + trends[last, 0][:, None] * damp + seas
        return out


@dataclass
class Theta:
    """The Theta method (Assimakopoulos & Nikolopoulos, 2000) as SES with drift (Hyndman & Billah, 2003).

    The forecast is the SES forecast plus half the slope of a straight line fitted to the history.
    """

    ses: Smoothing = field(default_factory=lambda: Smoothing("ses"))
    slope: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def fit(self, train: np.ndarray) -> Theta:
        self.ses.fit(train)
        t = np.arange(len(train), dtype=np.float64)
        self.slope = np.polyfit(t, train, 1)[0]  # (C,)
        return self

    def predict_at(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        base = self.ses.predict_at(series, origins, horizon)  # (O, H, C)
        alpha = np.array([p[0] for p in self.ses.params])  # (C,)
        steps = np.arange(horizon, dtype=np.float64)[:, None]  # (H, 1)
        return base + 0.5 * self.slope * (steps + 1.0 / alpha)


def _tdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a.T @ b in numpy's own loops: multithreaded BLAS spins when another process holds the other core."""
    return np.einsum("ti,tj->ij", a, b) if b.ndim == 2 else np.einsum("ti,t->i", a, b)


@dataclass
class AutoAR:
    """AR(p) with intercept on each channel, p up to ``max_order`` by AICc, iterated for multi-step paths.

    Every order is fitted on the same rows, from one Gram matrix of the longest design: each order's normal
    equations are a sub-block of it.
    """

    max_order: int = 12
    orders: list[int] = field(default_factory=list)
    coefs: list[np.ndarray] = field(default_factory=list)

    def fit(self, train: np.ndarray) -> AutoAR:
        self.orders, self.coefs = [], []
        for c in range(train.shape[1]):
            order, coef = self._fit_channel(train[-4 * _MAX_FIT :, c])
            self.orders.append(order)
            self.coefs.append(coef)
        return self

    def _fit_channel(self, x: np.ndarray) -> tuple[int, np.ndarray]:
        top = int(max(1, min(self.max_order, len(x) // 5)))
        lags = np.lib.stride_tricks.sliding_window_view(x[:-1], top)  # (N, top), oldest lag first
        design = np.hstack([np.ones((len(lags), 1)), lags[:, ::-1]])  # (N, 1 + top): 1, x[t-1], x[t-2], ...
        target = x[top:]
        gram, rhs, yy = _tdot(design, design), _tdot(design, target), float(target @ target)
        best: tuple[float, int, np.ndarray] | None = None
        m = len(target)
        for p in range(1, top + 1):
            g, r = gram[: p + 1, : p + 1], rhs[: p + 1]
            beta = np.linalg.solve(g + 1e-10 * np.trace(g) / (p + 1) * np.eye(p + 1), r)
            rss = max(yy - 2 * beta @ r + beta @ g @ beta, 1e-300 * m)
            k = p + 1  # AICc: the small-sample correction keeps short series from long, overfitted lags
            aic = m * np.log(rss / m) + 2 * k + 2 * k * (k + 1) / max(m - k - 1, 1)
            if best is None or aic < best[0]:
                best = (aic, p, beta)
        assert best is not None
        _, p, beta = best
        return p, np.concatenate([beta[1:][::-1], beta[:1]])  # oldest lag first, intercept last

    def predict_at(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        origins = np.asarray(origins)
        out = np.empty((len(origins), horizon, series.shape[1]))  # (O, H, C)
        for c, (p, coef) in enumerate(zip(self.orders, self.coefs, strict=True)):
            window = series[origins[:, None] + np.arange(-p, 0), c]  # (O, p)
            for h in range(horizon):
                nxt = window @ coef[:p] + coef[p]  # (O,)
                out[:, h, c] = nxt
                window = np.concatenate([window[:, 1:], nxt[:, None]], axis=1)
        return out


@dataclass
class SeasonalNaive:
    """The value one season ago (the last value when there is no season), with an optional drift."""

    period: int = 1
    drift: bool = False
    slope: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def fit(self, train: np.ndarray) -> SeasonalNaive:
        m = self.period if len(train) > self.period else 1
        self.period = m
        self.slope = (
            np.mean(train[m:] - train[:-m], axis=0) / m if self.drift and len(train) > m else np.zeros(train.shape[1])
        )
        return self

    def predict_at(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        origins = np.asarray(origins)
        steps = np.arange(horizon)
        back = origins[:, None] - self.period + (steps % self.period)  # (O, H): the same phase a season ago
        seasons_ahead = (steps // self.period + 1) * self.period  # (H,)
        return series[back] + self.slope * seasons_ahead[None, :, None]
