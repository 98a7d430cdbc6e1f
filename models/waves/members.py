"""The members of the hybrid forecaster, and the seasonal views they share.

After ES-RNN (Smyl, 2020), the series is normalised before most members see it (a `View`): an optional log
(multiplicative seasonality), minus a Fourier seasonal component at the detected periods. Exponential smoothing
(simple, Holt, damped), Theta, AR and the LSTM (on ``[x, x', x'']`` windows, with its linear highway) forecast
the adjusted series; persistence, seasonal naive, AR, Holt-Winters and harmonic regression read the raw one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from models.progress import OnFraction
from models.waves.baselines import Harmonic
from models.waves.classical import AutoAR, HoltWinters, SeasonalNaive, Smoothing, Theta
from models.waves.lstm import LSTMConfig, LSTMForecaster
from models.waves.seasonality import Seasonal

log = logging.getLogger(__name__)

MIN_HARMONIC_HISTORY = 200  # frequencies need a long history to be resolved
MAX_HOLT_WINTERS_PERIOD = 52
RIDGES = (1e-6, 1e-4, 1e-2, 1.0)  # the highway's ridge, chosen per channel on held-out windows
LSTM_STEPS = 500  # the member's training steps: the highway does the bulk, the LSTM corrects what it leaves


class Forecaster(Protocol):
    def fit(self, train: np.ndarray) -> Any: ...

    def predict_at(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray: ...


def _log(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask, np.log(np.where(mask, np.maximum(x, 1e-300), 1.0)), x)


def positive_log(x: np.ndarray) -> np.ndarray:
    """The log of a positive series (where seasonality is usually multiplicative), else the series itself."""
    return np.log(x) if x.min() > 0 else x


@dataclass
class View:
    """Per channel: an optional log (multiplicative seasonality), then minus a Fourier seasonal component."""

    log: np.ndarray  # (C,) bool
    seasonal: list[Seasonal]
    _restore_key: tuple | None = None
    _restore_season: np.ndarray | None = None

    @classmethod
    def fit(cls, train: np.ndarray, periods: Sequence[Sequence[float]], log: bool) -> View:
        mask = np.array([bool(log and train[:, c].min() > 0) for c in range(train.shape[1])])
        y = _log(train, mask)
        return cls(mask, [Seasonal.fit(y[:, c], periods[c]) for c in range(train.shape[1])])

    def _season(self, t: np.ndarray) -> np.ndarray:
        return np.stack([s.component(t) for s in self.seasonal], axis=-1)  # (len(t), C)

    def adjust(self, series: np.ndarray) -> np.ndarray:
        """(T, C) values -> adjusted values; row t of the series is absolute step t of the fit."""
        return _log(series, self.log) - self._season(np.arange(len(series)))

    def restore(self, paths: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """Adjusted paths (O, H, C) starting at each origin -> the data's scale."""
        origins = np.asarray(origins)
        key = (origins.tobytes(), paths.shape)
        if self._restore_key != key:  # every member restores at the same origins: compute the season once
            first = int(origins.min())  # the paths overlap: the season over their span, then gathered
            span = self._season(np.arange(first, int(origins.max()) + paths.shape[1]))  # (S, C)
            self._restore_key = key
            self._restore_season = span[origins[:, None] - first + np.arange(paths.shape[1])]  # (O, H, C)
        y = paths + self._restore_season
        return np.where(self.log, np.exp(np.clip(y, -700.0, 700.0)), y)


class Views:
    """Views fitted once per (training length, log), adjusted series once per (view, series): members share them."""

    def __init__(self, periods: list[list[float]]) -> None:
        self.periods = periods
        self._views: dict[tuple[int, bool], View] = {}
        self._adjusted: dict[tuple[int, int, int], np.ndarray] = {}

    def view(self, train: np.ndarray, log: bool) -> View:
        key = (len(train), log)
        if key not in self._views:
            self._views[key] = View.fit(train, self.periods, log)
        return self._views[key]

    def adjust(self, view: View, series: np.ndarray) -> np.ndarray:
        key = (id(view), id(series), len(series))
        if key not in self._adjusted:
            self._adjusted[key] = view.adjust(series)
        return self._adjusted[key]


@dataclass
class Adjusted:
    """A forecaster that works on the adjusted series of a View fitted on its own training data."""

    inner: Forecaster
    views: Views
    log: bool
    view: View | None = None

    def fit(self, train: np.ndarray) -> Adjusted:
        self.view = self.views.view(train, self.log)
        self.inner.fit(self.views.adjust(self.view, train))
        return self

    def predict_at(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        assert self.view is not None, "fit first"
        paths = self.inner.predict_at(self.views.adjust(self.view, series), origins, horizon)
        return self.view.restore(paths, origins)


@dataclass
class Logged:
    """A forecaster that works on the log of a positive series (multiplicative seasonality and trend)."""

    inner: Forecaster

    def fit(self, train: np.ndarray) -> Logged:
        self.inner.fit(np.log(train))
        return self

    def predict_at(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        paths = self.inner.predict_at(np.log(np.maximum(series, 1e-300)), origins, horizon)
        return np.exp(np.clip(paths, -700.0, 700.0))


@dataclass
class Member:
    """A named recipe for one forecaster of the combination."""

    name: str
    make: Callable[[], Forecaster]
    lstm: bool = False


def classical_members(periods: list[list[float]], views: Views, n: int, positive: bool) -> list[Member]:
    """Persistence, seasonal naive (main and longest period), AR, Holt-Winters and harmonic on the raw series;
    ES, Theta and AR on the adjusted views."""
    mains = {int(round(p[0])) if p else 1 for p in periods}
    main = mains.pop() if len(mains) == 1 else 1  # seasonal naive and Holt-Winters need one shared period
    out = [Member("persistence", lambda: SeasonalNaive(1)), Member("ar", lambda: AutoAR(max_order=32))]
    if main > 1:
        out.append(Member("seasonal_naive", lambda: SeasonalNaive(main)))
    longs = {int(round(max(p))) if p else 1 for p in periods}
    longest = longs.pop() if len(longs) == 1 else 1
    if longest > main and n >= 2 * longest:
        # The longest season repeats every shorter one that divides it (a week holds its days), and the
        # profile of its last cycle evolves with the series, which the Fourier views' fitted profile does not.
        out.append(Member("seasonal_naive_long", lambda: SeasonalNaive(longest)))
    if 2 <= main <= MAX_HOLT_WINTERS_PERIOD and n >= 3 * main:
        out.append(Member("holt_winters", lambda: HoltWinters(main)))
        if positive:
            out.append(Member("holt_winters_log", lambda: Logged(HoltWinters(main))))
    if n >= MIN_HARMONIC_HISTORY:
        out.append(Member("harmonic", Harmonic))
    adjusted: list[tuple[str, Callable[[], Forecaster]]] = [
        ("ses", lambda: Smoothing("ses")),
        ("holt", lambda: Smoothing("holt")),
        ("damped", lambda: Smoothing("damped")),
        ("theta", Theta),
        ("ar_adjusted", AutoAR),
    ]
    for log in (False, True) if positive else (False,):
        for name, make in adjusted:
            full = name + ("_log" if log else "")
            out.append(Member(full, lambda make=make, log=log: Adjusted(make(), views, log)))  # type: ignore[misc]
    return out


def lstm_window(train_len: int, horizon: int) -> int:
    """The LSTM's window: a multiple of 8 up to 96, with at least 5 training windows per lag; 0 if too short."""
    w = min(LSTMConfig.window, 8 * ((train_len - horizon) // 40))
    return w if w >= 8 else 0


def load_net_bytes(cache: MutableMapping[str, bytes] | None, key: str) -> bytes | None:
    """A trained network's bytes from the cache, or None; a broken cache only costs a retraining."""
    if cache is None:
        return None
    try:
        return cache.get(key)
    except Exception:
        log.warning("model cache read failed", exc_info=True)
        return None


def store_net_bytes(cache: MutableMapping[str, bytes] | None, key: str, blob: bytes) -> None:
    if cache is None:
        return
    try:
        cache[key] = blob
    except Exception:  # a broken cache must not fail the forecast
        log.warning("model cache write failed", exc_info=True)


def _load_lstm(cache: MutableMapping[str, bytes] | None, key: str) -> LSTMForecaster | None:
    blob = load_net_bytes(cache, key)
    if blob is None:
        return None
    try:
        return LSTMForecaster.from_bytes(blob)
    except Exception:
        log.warning("cached model unreadable, retraining", exc_info=True)
        return None


@dataclass
class LSTMMember:
    """The ES-RNN-style member: our LSTM (with its linear highway) on the (log-)adjusted series.

    The network is read from ``cache`` under ``key`` when there, else trained and stored, so an identical
    request skips training.
    """

    cfg: LSTMConfig
    views: Views
    log: bool
    cache: MutableMapping[str, bytes] | None = None
    key: str = ""
    on_fraction: OnFraction | None = None
    net: LSTMForecaster | None = None
    view: View | None = None
    cached: bool = False
    train_seconds: float = 0.0

    def fit(self, train: np.ndarray) -> LSTMMember:
        self.view = self.views.view(train, self.log)
        self.net = _load_lstm(self.cache, self.key)
        self.cached = self.net is not None
        if self.net is None:
            start = time.perf_counter()
            self.net = LSTMForecaster(self.cfg).fit(self.views.adjust(self.view, train), self.on_fraction)
            self.train_seconds = time.perf_counter() - start
            store_net_bytes(self.cache, self.key, self.net.to_bytes())
        return self

    def metrics(self) -> dict[str, Any]:
        """The LSTM's figures: training time, cache use, and whether its correction to the highway passed."""
        assert self.net is not None
        return {
            "lstm_window": self.cfg.window,
            "lstm_correction": bool(self.net.net.lstm_gate.item() > 0),
            "train_seconds": round(self.train_seconds, 3),
            "model_cached": self.cached,
        }

    def predict_at(self, series: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        assert self.net is not None and self.view is not None, "fit first"
        paths = self.net.predict_at(self.views.adjust(self.view, series), origins, horizon)
        return self.view.restore(paths, origins)


def lstm_config(train_len: int, horizon: int, channels: int, seed: int) -> LSTMConfig | None:
    """The LSTM member's configuration for this training length, or None when the series is too short."""
    window = lstm_window(train_len, horizon)
    if not window:
        return None
    batch = LSTMConfig.batch_for(channels, horizon)
    cfg = LSTMConfig(channels=channels, horizon=horizon, window=window, batch=batch, seed=seed, ridges=RIDGES)
    cfg.steps = LSTM_STEPS
    return cfg
