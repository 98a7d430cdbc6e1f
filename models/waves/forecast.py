"""Forecast a multi-channel series N steps ahead, in named steps: backtest, choose, fit, intervals, metrics.

The history is split into a training part and a held-out tail. Every model is fitted on the training part
and scored on rolling origins inside the tail (`backtest`); `choose` picks the model, `fit_final` forecasts
with it, and the backtest's residuals at each horizon step give the prediction intervals (`intervals.py`).
Trained LSTMs are stored in an optional byte cache, so an identical request skips training.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.progress import OnFraction, OnProgress, ShouldStop, Tracker
from models.waves.baselines import BASELINES, Forecaster
from models.waves.intervals import prediction_intervals
from models.waves.lstm import LSTMConfig, LSTMForecaster, SeedConfig, SeedForecaster

log = logging.getLogger(__name__)

MODELS = ("auto", "lstm", "lstm-seed", "persistence", "ar", "harmonic")
AUTO_CANDIDATES = ("persistence", "ar", "harmonic", "lstm")
MAX_HORIZON = 1000
MAX_HISTORY = 20_000
MAX_CHANNELS = 16
MAX_SEED_STEPS = 100_000
# Bumped whenever training changes, so that stale cached models are never reused.
VERSION = "lstm-v4"

_MIN_TRAIN_ORIGINS = 32  # distinct training windows, at the very least
_MIN_BACKTEST, _MAX_BACKTEST = 16, 200  # rolling origins in the held-out tail
_TO_TRAIN = {"lstm": ["lstm"], "auto": ["lstm"], "lstm-seed": ["lstm-seed"]}  # the networks each request trains


@dataclass
class ForecastResult:
    forecast: np.ndarray  # (H, C)
    intervals: dict[str, tuple[np.ndarray, np.ndarray]]  # {"80": (lo, hi), "95": (lo, hi)}, each (H, C)
    model: str  # the model actually used ("auto" resolved)
    metrics: dict  # JSON-ready: backtest scores of every model tried, timings, cache use


def min_history(horizon: int) -> int:
    """The shortest series any model accepts for this horizon: training windows plus the backtest tail."""
    _check_horizon(horizon)
    train = LSTMConfig.window + 2 + horizon + _MIN_TRAIN_ORIGINS
    return train + horizon + _MIN_BACKTEST - 1


def _check_horizon(horizon: int) -> None:
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer):
        raise ValueError(f"horizon must be an integer, got {horizon!r}")
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"horizon must be between 1 and {MAX_HORIZON}, got {horizon}")


def _validate(series: np.ndarray, horizon: int, model: str, lstm_seed_steps: int) -> np.ndarray:
    _check_horizon(horizon)
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if not 1 <= lstm_seed_steps <= MAX_SEED_STEPS:
        raise ValueError(f"lstm_seed_steps must be between 1 and {MAX_SEED_STEPS}, got {lstm_seed_steps}")
    try:
        x = np.array(series, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"series must be a rectangular array of numbers: {exc}") from exc
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"series must have shape (steps, channels), got {x.shape}")
    if x.shape[1] > MAX_CHANNELS:
        raise ValueError(f"series has {x.shape[1]} channels, the maximum is {MAX_CHANNELS}")
    if len(x) > MAX_HISTORY:
        raise ValueError(f"series has {len(x)} steps, the maximum is {MAX_HISTORY}")
    need = min_history(horizon)
    if len(x) < need:
        raise ValueError(f"series has {len(x)} steps; horizon {horizon} needs at least {need}")
    if not np.isfinite(x).all():
        raise ValueError("series contains NaN or infinite values")
    return x


def _backtest_origins(n: int, horizon: int) -> np.ndarray:
    """Rolling origins in the tail: each forecasts series[o : o+H] from series[:o]; the first is the split."""
    count = min(_MAX_BACKTEST, max(_MIN_BACKTEST, n // 10), n - min_history(horizon) + _MIN_BACKTEST)
    split = n - horizon - count + 1
    return np.arange(split, split + count)


def cache_key(series: np.ndarray, horizon: int, model: str, seed: int, seed_steps: int = 0) -> str:
    """Hash of everything that determines a trained model."""
    h = hashlib.sha256()
    data = np.ascontiguousarray(series, dtype=np.float64)
    h.update(f"{VERSION}|{model}|{horizon}|{seed}|{seed_steps}|{data.shape}|".encode())
    h.update(data.tobytes())
    return f"wave-model:{h.hexdigest()}"


def _score(pred: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    err = pred - actual  # (O, H, C)
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}


def _trained(
    name: str,
    train: np.ndarray,
    key: str,
    cache: MutableMapping[str, bytes] | None,
    on_fraction: OnFraction,
    horizon: int,
    seed: int,
    seed_steps: int,
) -> tuple[LSTMForecaster | SeedForecaster, bool, float]:
    """The LSTM for this request: from the cache when possible, else trained (and cached)."""
    loader = LSTMForecaster if name == "lstm" else SeedForecaster
    blob = None
    if cache is not None:
        try:
            blob = cache.get(key)
        except Exception:  # a broken cache must not fail the forecast, only slow it down
            log.warning("model cache read failed", exc_info=True)
    if blob is not None:
        try:
            return loader.from_bytes(blob), True, 0.0
        except Exception:
            log.warning("cached model unreadable, retraining", exc_info=True)
    channels = train.shape[1]
    model: LSTMForecaster | SeedForecaster
    if name == "lstm":
        batch = LSTMConfig.batch_for(channels, horizon)
        model = LSTMForecaster(LSTMConfig(channels=channels, horizon=horizon, batch=batch, seed=seed))
    else:
        model = SeedForecaster(SeedConfig(channels=channels, ahead=horizon, steps=seed_steps, seed=seed))
    start = time.perf_counter()
    model.fit(train, on_fraction)
    seconds = time.perf_counter() - start
    if cache is not None:
        try:
            cache[key] = model.to_bytes()
        except Exception:
            log.warning("model cache write failed", exc_info=True)
    return model, False, seconds


def run_forecast(
    series: np.ndarray,
    horizon: int,
    model: str = "lstm",
    seed: int = 0,
    *,
    cache: MutableMapping[str, bytes] | None = None,
    on_progress: OnProgress | None = None,
    should_stop: ShouldStop | None = None,
    lstm_seed_steps: int = 80_000,
) -> ForecastResult:
    """Forecast steps T .. T+horizon-1 of a (T, C) series with ``model`` ("auto" picks by backtest RMSE)."""
    started = time.perf_counter()
    x = _validate(series, horizon, model, lstm_seed_steps)
    tracker = Tracker(on_progress=on_progress, should_stop=should_stop)
    tracker.report(0.0, "backtesting baselines")
    bt = backtest(x, horizon, model, seed, lstm_seed_steps, cache, tracker)
    chosen = choose(model, bt.scores)
    tracker.report(0.95, f"forecasting with {chosen}")
    final = fit_final(x, horizon, chosen, bt.fitted)  # (H, C)
    intervals = prediction_intervals(final, bt.actual - bt.preds[chosen])
    metrics = _metrics(model, chosen, bt, time.perf_counter() - started)
    tracker.report(1.0, "done")
    return ForecastResult(forecast=final, intervals=intervals, model=chosen, metrics=metrics)


@dataclass
class Backtest:
    """Every candidate fitted on the training part and its forecasts at the rolling origins of the tail."""

    origins: np.ndarray  # (O,); the first is the end of the training part
    actual: np.ndarray  # (O, H, C)
    fitted: dict[str, Forecaster] = field(default_factory=dict)
    preds: dict[str, np.ndarray] = field(default_factory=dict)  # name -> backtest forecasts (O, H, C)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # name -> {"rmse", "mae"}
    train_seconds: float = 0.0
    cached: bool = False  # the LSTM came from the cache


def backtest(
    x: np.ndarray,
    horizon: int,
    model: str,
    seed: int,
    seed_steps: int,
    cache: MutableMapping[str, bytes] | None,
    tracker: Tracker,
) -> Backtest:
    """Fit the baselines (and the LSTM the request asks for) on the training part; score them on the tail."""
    origins = _backtest_origins(len(x), horizon)
    train = x[: int(origins[0])]
    bt = Backtest(origins, actual=x[origins[:, None] + np.arange(horizon)])
    for i, (name, cls) in enumerate(BASELINES.items()):
        bt.fitted[name] = cls().fit(train)
        bt.preds[name] = bt.fitted[name].predict_at(x, origins, horizon)
        tracker.report(0.1 * (i + 1) / len(BASELINES), "backtesting baselines")
    for name in _TO_TRAIN.get(model, []):
        steps = seed_steps if name == "lstm-seed" else 0
        key = cache_key(x, horizon, name, seed, steps)
        phase = tracker.span(0.1, 0.9, f"training {name}")
        net, bt.cached, bt.train_seconds = _trained(name, train, key, cache, phase, horizon, seed, steps)
        bt.fitted[name] = net
        tracker.report(0.9, "backtesting")
        bt.preds[name] = net.predict_at(x, origins, horizon)
    bt.scores = {name: _score(p, bt.actual) for name, p in bt.preds.items()}
    return bt


def choose(model: str, scores: dict[str, dict[str, float]]) -> str:
    """The model asked for, or for "auto" the candidate with the lowest backtest RMSE."""
    if model != "auto":
        return model
    return min((m for m in AUTO_CANDIDATES if m in scores), key=lambda m: scores[m]["rmse"])


def fit_final(x: np.ndarray, horizon: int, chosen: str, fitted: dict[str, Forecaster]) -> np.ndarray:
    """The forecast (H, C) from the end of the series; a baseline is refitted on all of it first."""
    if chosen in BASELINES:  # cheap to refit on everything; the LSTMs keep the model that was scored
        fitted[chosen] = BASELINES[chosen]().fit(x)
    return fitted[chosen].predict_at(x, np.array([len(x)]), horizon)[0]  # (H, C)


def _metrics(model: str, chosen: str, bt: Backtest, seconds: float) -> dict[str, Any]:
    """JSON-ready figures: the backtest scores of every model tried, timings, cache use."""
    metrics: dict[str, Any] = {
        "model": chosen,
        "requested_model": model,
        "backtest_rmse": bt.scores[chosen]["rmse"],
        "backtest_mae": bt.scores[chosen]["mae"],
        "backtest": bt.scores,
        "backtest_origins": len(bt.origins),
        "train_steps": int(bt.origins[0]),
        "train_seconds": round(bt.train_seconds, 3),
        "model_cached": bt.cached,
        "total_seconds": round(seconds, 3),
    }
    lstm = bt.fitted.get("lstm")
    if isinstance(lstm, LSTMForecaster):
        # Whether the LSTM's correction on top of its linear highway passed validation (else highway only).
        metrics["lstm_correction"] = bool(lstm.net.lstm_gate.item() > 0)
    return metrics
