"""The hybrid forecaster: every member backtested, then combined per horizon bucket by its backtest errors.

M4's lesson is that combinations beat single models. Every member (see `members`) is fitted on the start of
the history and scored at rolling origins over its end (the backtest). Each horizon bucket (steps 1-10%,
10-50%, 50-100% of the horizon) then takes, per channel, an inverse-error weighted mean of the ``TOP_K``
members that scored best there (squared errors, sharper with many origins: `power`). The chosen classical
members are refitted on the whole history; the LSTM keeps the network that was scored, so its backtest is
exactly the model that forecasts.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.progress import OnFraction
from models.waves.members import (
    Forecaster,
    LSTMMember,
    Member,
    Views,
    classical_members,
    lstm_config,
    lstm_window,
    positive_log,
)
from models.waves.seasonality import detect_periods

BUCKETS = (0.1, 0.5, 1.0)  # upper edges of the horizon buckets, as fractions of the horizon
TOP_K = 5  # members combined in each bucket
# The weights' inverse-error exponent rises from 2 to 8 between 100 and 200 backtest origins (see `power`).
POWER_ORIGINS, POWERS = (100, 200), (2.0, 8.0)
MIN_ORIGINS, MAX_ORIGINS = 8, 200
MAX_BACKTEST_VALUES = 1_000_000  # origins x horizon x channels per member: bounds memory at the limits
# A member weighted under this share of the best one's weight is dropped (and the rest renormalised): it cannot
# move the forecast, yet it would be refitted on the whole history and run for every forecast.
MIN_SHARE = 1e-6


def bucket_slices(horizon: int) -> list[slice]:
    """Steps 1-10%, 10-50% and 50-100% of the horizon as disjoint slices (empty ones dropped)."""
    edges = [0] + [min(horizon, max(1, int(np.ceil(b * horizon)))) for b in BUCKETS]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def power(origins: int) -> float:
    """The exponent of the inverse-error weights for a backtest of this many origins.

    The more origins, the less noise in each member's mean error, and the more a clear winner can be trusted:
    on the benchmark, sharper weights (exponent 4 or 8) beat inverse squared errors on the long series (200
    origins: co2, the half-hourly load, the 4-channel waves) and lost on every short one (under 100 origins).
    """
    lo, hi = POWER_ORIGINS
    return float(np.interp(origins, [lo, hi], POWERS))


def _weights(err: np.ndarray, size: int) -> np.ndarray:
    """(M, H, C) from absolute errors (M, K, H, C): per bucket and channel, the best members' weights.

    Each of the ``size`` best is weighted by its inverse mean error to the `power` set by the origins K; one
    under ``MIN_SHARE`` of the best's weight is left out.
    """
    m, k, h, chans = err.shape
    exponent = power(k)
    weights = np.zeros((m, h, chans))
    for sl in bucket_slices(h):
        score = err[:, :, sl, :].mean(axis=(1, 2))  # (M, C)
        for c in range(chans):
            top = np.argsort(score[:, c], kind="stable")[:size]
            w = 1.0 / np.maximum(score[top, c], 1e-12) ** exponent
            w = w / w.max()  # the best is 1: no overflow at high exponents
            w = np.where(w >= MIN_SHARE, w, 0.0)
            weights[top, sl, c] = (w / w.sum())[:, None]
    return weights


def backtest_split(n: int, horizon: int, channels: int = 1) -> int:
    """The first backtest origin: members are fitted on series[:split] and scored at split .. n - horizon.

    Half the history (8 to 200 origins) when the series allows, but at least half a horizon (and 12
    steps) stays for fitting, and origins x horizon x channels stays under a million.
    """
    count = int(np.clip(n // 2, MIN_ORIGINS, MAX_ORIGINS))
    count = min(count, max(MIN_ORIGINS, MAX_BACKTEST_VALUES // (horizon * channels)))
    count = max(1, min(count, n - horizon - max(horizon // 2, 12) + 1))
    return n - horizon - count + 1


def min_lstm_history(horizon: int) -> int:
    """The shortest series whose backtest split still leaves the LSTM a window of 8 steps."""
    n = max(24, 2 * horizon)
    while lstm_window(backtest_split(n, horizon), horizon) == 0:
        n += 1
    return n


def _final(recipe: Member, model: Forecaster, x: np.ndarray) -> Forecaster:
    """A weighted member for the forecast from the end: refitted on the whole history x.

    The LSTM keeps the network that was scored; a member with ``refit`` updates what it chose on the
    training part (the harmonic regression keeps its sinusoids) instead of searching again.
    """
    if recipe.lstm:
        return model
    refit = getattr(model, "refit", None)
    return refit(x) if refit is not None else recipe.make().fit(x)


@dataclass
class Combination:
    """Backtest every member, weight the best per horizon bucket, forecast with the weighted members.

    ``only`` forecasts with one member instead (still backtested, for the intervals and the metrics).
    ``use_lstm`` adds the LSTM member when the history is long enough; ``notes`` says why not otherwise.
    """

    horizon: int
    hints: list[float] = field(default_factory=list)
    use_lstm: bool = True
    only: str | None = None
    seed: int = 0
    cache: MutableMapping[str, bytes] | None = None
    cache_key: str = ""
    on_fraction: OnFraction | None = None  # the LSTM's training progress
    on_member: OnFraction | None = None  # the fraction of members backtested
    extra: list[Member] = field(default_factory=list)  # members beyond the standard ones (lstm-seed)
    # Set by fit:
    periods: list[list[float]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    members: dict[str, Forecaster] = field(default_factory=dict)
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (M, H, C)
    backtest: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (K, H, C) forecasts
    origins: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    actual: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (K, H, C)
    network: Any = None  # the trained network's member (LSTMMember or the seed's), for its metrics
    notes: dict[str, str] = field(default_factory=dict)

    def fit(self, train: np.ndarray) -> Combination:
        x, h = train, self.horizon
        split = backtest_split(len(x), h, x.shape[1])
        self.origins = np.arange(split, len(x) - h + 1)
        self.actual = x[self.origins[:, None] + np.arange(h)]  # (K, H, C)
        recipes = self._recipes(x, split)
        fitted: dict[str, Forecaster] = {}
        for i, r in enumerate(recipes):
            fitted[r.name] = r.make().fit(x[:split])
            self.backtest[r.name] = fitted[r.name].predict_at(x, self.origins, h)
            if self.on_member is not None:
                self.on_member((i + 1) / len(recipes))
        self.names = [r.name for r in recipes]
        self.weights = self._weigh(x[:split])
        self.members = {r.name: _final(r, fitted[r.name], x) for i, r in enumerate(recipes) if self.weights[i].any()}
        return self

    def _recipes(self, x: np.ndarray, split: int) -> list[Member]:
        """The members for this series: periods detected on the whole history (or hinted)."""
        positive = bool(x.min() > 0)
        self.periods = [detect_periods(positive_log(x[:, c]), self.hints) for c in range(x.shape[1])]
        views = Views(self.periods)
        recipes = classical_members(self.periods, views, len(x), positive)
        cfg = lstm_config(split, self.horizon, x.shape[1], self.seed) if self.use_lstm else None
        if cfg is not None:
            lstm = LSTMMember(cfg, views, positive, self.cache, self.cache_key, self.on_fraction)
            self.network = lstm
            recipes.append(Member("lstm", lambda: lstm, lstm=True))
        elif self.use_lstm:
            need = min_lstm_history(self.horizon)
            self.notes["lstm"] = f"series too short for the LSTM: {len(x)} steps, horizon {self.horizon} needs {need}"
        recipes += self.extra
        if self.only is not None:
            recipes = [r for r in recipes if r.name == self.only] or recipes
        return recipes

    def _weigh(self, train: np.ndarray) -> np.ndarray:
        """(M, H, C): per bucket and channel, inverse-error weights of the TOP_K best members (MASE-like errors)."""
        chans = train.shape[1]
        scale = np.mean(np.abs(np.diff(train, axis=0)), axis=0) if len(train) > 1 else np.ones(chans)
        scale = np.where(scale > 0, scale, 1.0)  # (C,)
        err = np.stack([np.abs(self.backtest[n] - self.actual) / scale for n in self.names])  # (M, K, H, C)
        return _weights(err, TOP_K)

    def backtest_forecast(self) -> np.ndarray:
        """The combination's own forecasts at the backtest origins: (K, H, C)."""
        return np.einsum("mkhc,mhc->khc", np.stack([self.backtest[n] for n in self.names]), self.weights)

    def predict_at(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        out = np.zeros((len(origins), horizon, series.shape[1]))  # (O, H, C)
        for name, model in self.members.items():
            out += model.predict_at(series, origins, horizon) * self.weights[self.names.index(name)]
        nonneg = series.min(axis=0) >= 0  # a series never below zero is not forecast below zero
        return np.where(nonneg, np.maximum(out, 0.0), out)

    def scores(self) -> dict[str, dict[str, float]]:
        """Every member's backtest RMSE and MAE."""
        out = {}
        for name in self.names:
            err = self.backtest[name] - self.actual
            out[name] = {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}
        return out

    def weight_tables(self) -> list[dict[str, dict[str, float]]]:
        return [self.weight_table(c) for c in range(self.weights.shape[2])]

    def weight_table(self, channel: int = 0) -> dict[str, dict[str, float]]:
        """{"steps a-b": {member: weight}} of one channel, for the metrics."""
        table = {}
        for sl in bucket_slices(self.horizon):
            w = self.weights[:, sl.start, channel]
            table[f"steps {sl.start + 1}-{sl.stop}"] = {self.names[i]: round(float(w[i]), 3) for i in np.flatnonzero(w)}
        return table
