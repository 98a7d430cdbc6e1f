"""Forecast a multi-channel series N steps ahead, in named steps: backtest, choose, fit, intervals, metrics.

`backtest` fits every member of the hybrid forecaster (`combine.Combination`) on the start of the history and
scores it at rolling origins over the end; `choose` weights the members per horizon bucket (or keeps the one
model asked for); `fit_final` forecasts from the end of the series; `intervals` turns the backtest's errors
into calibrated bands; `metrics` says which model ran, with which weights, and why.

Any series of at least ``max(24, 2 * horizon)`` steps gets a forecast. The LSTM member needs a longer one
(`combine.min_lstm_history`); below that, the default and ``lstm`` fall back to the classical members and the
metrics say so. Trained networks are stored in an optional byte cache, so an identical request skips training.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from models.progress import OnProgress, ShouldStop, Tracker
from models.waves.combine import Combination, backtest_split
from models.waves.intervals import conformal_intervals
from models.waves.members import Member
from models.waves.seed_lstm import SeedConfig, SeedMember


class ForecastModel(StrEnum):
    """What a request may ask for (app/schemas.py mirrors it): the hybrid, the LSTM alone, the seed's, a baseline."""

    auto = "auto"  # the backtest-weighted combination of every member
    lstm = "lstm"
    lstm_seed = "lstm-seed"
    persistence = "persistence"
    ar = "ar"
    harmonic = "harmonic"

    @property
    def uses_lstm(self) -> bool:
        """Whether our LSTM is among the members that are trained."""
        return self in (ForecastModel.auto, ForecastModel.lstm)

    @property
    def only(self) -> str | None:
        """The one member that forecasts alone, or None for the combination."""
        return None if self is ForecastModel.auto else self.value


MODELS = tuple(m.value for m in ForecastModel)
DEFAULT_MODEL = ForecastModel.auto
MIN_HISTORY = 24
MAX_HORIZON = 1000
MAX_HISTORY = 20_000
MAX_CHANNELS = 16
MAX_SEED_STEPS = 100_000
MAX_SEASON_LENGTHS = 3
# Bumped whenever training changes, so that stale cached models are never reused.
VERSION = "hybrid-v2"


@dataclass
class ForecastResult:
    forecast: np.ndarray  # (H, C)
    intervals: dict[str, tuple[np.ndarray, np.ndarray]]  # {"80": (lo, hi), "95": (lo, hi)}, each (H, C)
    model: str  # the model that ran: the one asked for, or "auto" when it fell back (metrics say why)
    metrics: dict  # JSON-ready: weights, backtest scores of every member, periods, timings, cache use


def min_history(horizon: int) -> int:
    """The shortest series any model accepts for this horizon: max(24, 2 x horizon)."""
    _check_horizon(horizon)
    return max(MIN_HISTORY, 2 * horizon)


def _check_horizon(horizon: int) -> None:
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer):
        raise ValueError(f"horizon must be an integer, got {horizon!r}")
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"horizon must be between 1 and {MAX_HORIZON}, got {horizon}")


def _check_options(model: str, lstm_seed_steps: int, season_length: Sequence[float]) -> ForecastModel:
    """The model asked for, as the enum, once the options are known to be valid."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if not 1 <= lstm_seed_steps <= MAX_SEED_STEPS:
        raise ValueError(f"lstm_seed_steps must be between 1 and {MAX_SEED_STEPS}, got {lstm_seed_steps}")
    if len(season_length) > MAX_SEASON_LENGTHS or not all(np.isfinite(p) and p >= 2 for p in season_length):
        raise ValueError(f"season_length must be up to {MAX_SEASON_LENGTHS} periods of at least 2 steps")
    return ForecastModel(model)


def _validate(series: np.ndarray, horizon: int) -> np.ndarray:
    _check_horizon(horizon)
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


def _scale(x: np.ndarray) -> np.ndarray:
    """Per channel, 1, or the largest magnitude when it is so large (or small) that squares would overflow."""
    peak = np.abs(x).max(axis=0)
    return np.where((peak > 1e50) | ((peak > 0) & (peak < 1e-50)), peak, 1.0)


def cache_key(series: np.ndarray, horizon: int, model: str, seed: int, extra: str = "") -> str:
    """Hash of everything that determines a trained network."""
    h = hashlib.sha256()
    data = np.ascontiguousarray(series, dtype=np.float64)
    h.update(f"{VERSION}|{model}|{horizon}|{seed}|{extra}|{data.shape}|".encode())
    h.update(data.tobytes())
    return f"wave-model:{h.hexdigest()}"


def run_forecast(
    series: np.ndarray,
    horizon: int,
    model: str = DEFAULT_MODEL,
    seed: int = 0,
    *,
    season_length: Sequence[float] = (),
    cache: MutableMapping[str, bytes] | None = None,
    on_progress: OnProgress | None = None,
    should_stop: ShouldStop | None = None,
    lstm_seed_steps: int = 80_000,
) -> ForecastResult:
    """Forecast steps T .. T+horizon-1 of a (T, C) series with ``model`` ("auto": the backtest-weighted hybrid)."""
    started = time.perf_counter()
    x = _validate(series, horizon)
    asked = _check_options(model, lstm_seed_steps, season_length)
    tracker = Tracker(on_progress=on_progress, should_stop=should_stop)
    tracker.report(0.0, "backtesting")
    scale = _scale(x)  # (C,)
    x = x / scale
    comb = backtest(x, horizon, asked, seed, list(season_length), lstm_seed_steps, cache, tracker)
    ran = choose(asked, comb)
    tracker.report(0.95, f"forecasting with {ran}")
    final = fit_final(x, horizon, comb)  # (H, C)
    bands = conformal_intervals(final, comb.actual - comb.backtest_forecast(), nonneg=x.min(axis=0) >= 0)
    intervals = {label: (lo * scale, hi * scale) for label, (lo, hi) in bands.items()}
    metrics = _metrics(asked, ran, comb, time.perf_counter() - started)
    if (scale != 1).any():
        metrics["scaled_by"] = scale.tolist()  # the backtest errors are in these units
    final = final * scale
    tracker.report(1.0, "done")
    return ForecastResult(forecast=final, intervals=intervals, model=ran.value, metrics=metrics)


def backtest(
    x: np.ndarray,
    horizon: int,
    model: ForecastModel,
    seed: int,
    hints: list[float],
    seed_steps: int,
    cache: MutableMapping[str, bytes] | None,
    tracker: Tracker,
) -> Combination:
    """Fit the members on the start of the history and score them at the backtest origins."""
    comb = Combination(
        horizon,
        hints=hints,
        use_lstm=model.uses_lstm,
        only=model.only,
        seed=seed,
        cache=cache,
        cache_key=cache_key(x, horizon, "lstm", seed),
        on_fraction=tracker.span(0.3, 0.9, "training lstm"),
        on_member=tracker.span(0.0, 0.3, "backtesting"),
    )
    if model is ForecastModel.lstm_seed and backtest_split(len(x), horizon, x.shape[1]) <= horizon:
        # The seed's LSTM learns from pairs (t, t + horizon) of the backtest's training part: there are none.
        comb.notes["lstm-seed"] = f"series too short for the seed's LSTM: {len(x)} steps, horizon {horizon}"
    elif model is ForecastModel.lstm_seed:
        cfg = SeedConfig(channels=x.shape[1], ahead=horizon, steps=seed_steps, seed=seed)
        key = cache_key(x, horizon, "lstm-seed", seed, str(seed_steps))
        member = SeedMember(cfg, cache, key, tracker.span(0.3, 0.9, "training lstm-seed"))
        comb.extra = [Member("lstm-seed", lambda: member, lstm=True)]
        comb.network = member
    return comb.fit(x)


def choose(model: ForecastModel, comb: Combination) -> ForecastModel:
    """The model that runs: the one asked for, or "auto" when it could not run here (``comb.notes`` says why)."""
    if model.only is None or model.only in comb.names:
        return model
    comb.notes.setdefault("model", f"{model} cannot run on this series; the classical combination ran instead")
    return ForecastModel.auto


def fit_final(x: np.ndarray, horizon: int, comb: Combination) -> np.ndarray:
    """The forecast (H, C) from the end of the series."""
    return comb.predict_at(x, np.array([len(x)]), horizon)[0]


def _metrics(model: ForecastModel, ran: ForecastModel, comb: Combination, seconds: float) -> dict[str, Any]:
    """JSON-ready figures: the weights, every member's backtest score, the periods, timings, cache use."""
    err = comb.actual - comb.backtest_forecast()  # (K, H, C)
    metrics: dict[str, Any] = {
        "model": ran.value,
        "requested_model": model.value,
        "weights": comb.weight_table(0) if comb.actual.shape[2] == 1 else comb.weight_tables(),
        "season_lengths": [[round(p, 3) for p in ps] for ps in comb.periods],
        "backtest_rmse": float(np.sqrt(np.mean(err**2))),
        "backtest_mae": float(np.mean(np.abs(err))),
        "backtest": comb.scores(),
        "backtest_origins": len(comb.origins),
        "train_steps": int(comb.origins[0]),
        "total_seconds": round(seconds, 3),
    }
    if comb.network is not None and comb.network.net is not None:
        metrics.update(comb.network.metrics())
    if comb.notes:
        metrics["notes"] = dict(comb.notes)
    return metrics
