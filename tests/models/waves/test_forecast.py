"""Forecasters: baselines on clean waves, our LSTM, the seed protocol, the cache, intervals, cancel, errors."""

from __future__ import annotations

import numpy as np
import pytest

from models.progress import Canceled
from models.waves.baselines import Autoregression, Harmonic, Persistence
from models.waves.combine import TOP_K
from models.waves.forecast import MAX_HORIZON, MODELS, ForecastResult, min_history, run_forecast
from models.waves.generator import ORIGINAL_WAVES, Term, Wave, generate
from models.waves.lstm import LSTMConfig, LSTMForecaster

HORIZON = 12
WAVES = [
    Wave(1.0, [Term("sin", 3.0, 41.0, 0.3), Term("cos", 2.0, 97.0, 1.0)]),
    Wave(-2.0, [Term("sin", 4.0, 60.0, 0.1)]),
]


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return generate(WAVES, 0, 600 + HORIZON)  # (612, 2)


@pytest.fixture(scope="module")
def lstm_runs(clean: np.ndarray) -> tuple[ForecastResult, ForecastResult, dict[str, bytes]]:
    """Two identical lstm requests sharing one cache: the first trains, the second must not."""
    cache: dict[str, bytes] = {}
    first = run_forecast(clean[:600], HORIZON, "lstm", seed=1, cache=cache)
    second = run_forecast(clean[:600], HORIZON, "lstm", seed=1, cache=cache)
    return first, second, cache


@pytest.mark.parametrize("cls", [Autoregression, Harmonic])
def test_linear_baselines_are_near_exact_on_clean_waves(cls: type) -> None:
    x = generate(ORIGINAL_WAVES, 0, 2100)
    model = cls().fit(x[:2000])
    pred = model.predict_at(x, np.array([2000, 2050]), 23)  # (2, 23, 2)
    truth = np.stack([x[2000:2023], x[2050:2073]])
    assert np.sqrt(np.mean((pred - truth) ** 2)) < 1e-3


def test_persistence_repeats_the_last_value() -> None:
    x = np.arange(20.0).reshape(10, 2)
    pred = Persistence().fit(x).predict_at(x, np.array([4, 10]), 3)
    np.testing.assert_array_equal(pred[0], np.tile(x[3], (3, 1)))
    np.testing.assert_array_equal(pred[1], np.tile(x[9], (3, 1)))


def test_lstm_beats_persistence_and_is_close(lstm_runs: tuple, clean: np.ndarray) -> None:
    first, _, _ = lstm_runs
    assert first.model == "lstm"
    assert first.forecast.shape == (HORIZON, 2)
    truth = clean[600:]
    lstm_rmse = np.sqrt(np.mean((first.forecast - truth) ** 2))
    persistence_rmse = np.sqrt(np.mean((clean[599] - truth) ** 2))
    assert lstm_rmse < 0.25 * persistence_rmse
    assert set(first.metrics["backtest"]) == {"lstm"}  # model=lstm backtests the LSTM alone
    assert first.metrics["weights"][0]["steps 1-2"] == {"lstm": 1.0}


def test_cache_hit_skips_training(lstm_runs: tuple) -> None:
    first, second, cache = lstm_runs
    assert len(cache) == 1 and isinstance(next(iter(cache.values())), bytes)
    assert first.metrics["lstm_correction"] in (True, False) and first.metrics["lstm_window"] >= 8
    assert first.metrics["model_cached"] is False and first.metrics["train_seconds"] > 0
    assert second.metrics["model_cached"] is True and second.metrics["train_seconds"] == 0
    np.testing.assert_allclose(second.forecast, first.forecast, rtol=0, atol=1e-9)


def test_intervals_are_ordered_and_shaped(lstm_runs: tuple) -> None:
    result = lstm_runs[0]
    lo80, hi80 = result.intervals["80"]
    lo95, hi95 = result.intervals["95"]
    for band in (lo80, hi80, lo95, hi95):
        assert band.shape == (HORIZON, 2)
    assert np.all(lo95 <= lo80) and np.all(lo80 <= hi80) and np.all(hi80 <= hi95)
    assert np.all(hi95 - lo95 > 0)


def test_lstm_training_is_reproducible(clean: np.ndarray) -> None:
    cfg = LSTMConfig(channels=2, horizon=5, steps=30, seed=3)
    a = LSTMForecaster(cfg).fit(clean[:300]).predict_at(clean, np.array([400]), 5)
    b = LSTMForecaster(cfg).fit(clean[:300]).predict_at(clean, np.array([400]), 5)
    np.testing.assert_array_equal(a, b)


def test_lstm_seed_protocol_runs_and_caches(clean: np.ndarray) -> None:
    cache: dict[str, bytes] = {}
    result = run_forecast(clean[:300], 23, "lstm-seed", cache=cache, lstm_seed_steps=300)
    assert result.model == "lstm-seed" and result.forecast.shape == (23, 2)
    assert np.isfinite(result.forecast).all()
    again = run_forecast(clean[:300], 23, "lstm-seed", cache=cache, lstm_seed_steps=300)
    assert again.metrics["model_cached"] is True
    # A different step count is a different model.
    other = run_forecast(clean[:300], 23, "lstm-seed", cache=cache, lstm_seed_steps=301)
    assert other.metrics["model_cached"] is False


def test_auto_combines_the_best_backtests_and_reuses_the_lstm(lstm_runs: tuple, clean: np.ndarray) -> None:
    cache = lstm_runs[2]
    result = run_forecast(clean[:600], HORIZON, "auto", seed=1, cache=cache)
    backtest = result.metrics["backtest"]
    assert {"lstm", "persistence", "ar", "harmonic", "damped", "theta"} <= set(backtest)
    assert result.model == "auto" and "auto" in MODELS
    weights = result.metrics["weights"]  # per channel, per horizon bucket
    assert len(weights) == 2 and list(weights[0]) == ["steps 1-2", "steps 3-6", "steps 7-12"]
    best = min(backtest, key=lambda m: backtest[m]["rmse"])
    assert any(best in bucket for bucket in weights[0].values())  # the best member overall is weighted
    # Each bucket: its TOP_K best at most (fewer when some weigh under MIN_SHARE of its best), summing to 1.
    assert all(1 <= len(b) <= TOP_K and abs(sum(b.values()) - 1) < 0.01 for b in weights[0].values())
    assert result.metrics["model_cached"] is True  # auto trains the same lstm as model="lstm"


def test_pure_lstm_learns_without_the_linear_highway(clean: np.ndarray) -> None:
    cfg = LSTMConfig(channels=2, horizon=HORIZON, window=16, patch=1, highway=False, steps=300, seed=0)
    model = LSTMForecaster(cfg).fit(clean[:500])
    origins = np.arange(500, 600 - HORIZON)
    truth = clean[origins[:, None] + np.arange(HORIZON)]  # (O, H, C)
    lstm_rmse = np.sqrt(np.mean((model.predict_at(clean, origins, HORIZON) - truth) ** 2))
    persistence_rmse = np.sqrt(np.mean((Persistence().predict_at(clean, origins, HORIZON) - truth) ** 2))
    assert lstm_rmse < 0.5 * persistence_rmse


@pytest.mark.parametrize("horizon", [1, 12, 40])
def test_min_history_is_24_or_two_horizons(horizon: int) -> None:
    assert min_history(horizon) == max(24, 2 * horizon)


@pytest.mark.parametrize("model", ["auto", "lstm", "lstm-seed", "persistence", "ar"])
def test_every_model_at_minimum_history(model: str) -> None:
    n = min_history(HORIZON)
    x = generate(WAVES, 0, n)
    result = run_forecast(x, HORIZON, model)
    assert result.forecast.shape == (HORIZON, 2) and np.isfinite(result.forecast).all()
    if model == "lstm":  # too short for the LSTM: the classical members ran, and the metrics say why
        assert result.model == "auto" and "needs" in result.metrics["notes"]["lstm"]
    elif model == "lstm-seed":  # likewise: the seed's LSTM has no training pairs in the backtest's part
        assert result.model == "auto" and "too short" in result.metrics["notes"]["lstm-seed"]
    else:
        assert result.model == model
    with pytest.raises(ValueError, match=f"at least {n}"):
        run_forecast(x[:-1], HORIZON, model)


def test_harmonic_needs_a_long_history_and_says_so() -> None:
    result = run_forecast(generate(WAVES, 0, 100), HORIZON, "harmonic")
    assert result.model == "auto" and "harmonic" in result.metrics["notes"]["model"]


def test_season_length_hint_is_used() -> None:
    x = generate(WAVES, 0, 300)
    result = run_forecast(x, HORIZON, "persistence", season_length=[25.0])
    assert all(periods[0] == 25.0 for periods in result.metrics["season_lengths"])
    with pytest.raises(ValueError, match="season_length"):
        run_forecast(x, HORIZON, "auto", season_length=[1.0])


def test_cancel_raises_and_progress_is_reported(clean: np.ndarray) -> None:
    seen: list[float] = []

    def stop() -> bool:
        return len(seen) >= 3

    with pytest.raises(Canceled):
        run_forecast(clean[:600], HORIZON, "lstm", on_progress=lambda p: seen.append(p.fraction), should_stop=stop)
    assert seen == sorted(seen) and 0.0 <= seen[0] and seen[-1] < 1.0


@pytest.mark.parametrize(
    "series, horizon, model, match",
    [
        ("ok", 0, "lstm", "horizon"),
        ("ok", MAX_HORIZON + 1, "lstm", "horizon"),
        ("ok", 5, "prophet", "model"),
        ("nan", 5, "ar", "NaN"),
        ("short", 5, "ar", "at least"),
        ("ragged", 5, "ar", "rectangular"),
    ],
)
def test_impossible_inputs_are_refused(series: str, horizon: int, model: str, match: str) -> None:
    x: object = generate(WAVES, 0, 300)
    if series == "nan":
        x = generate(WAVES, 0, 300)
        x[17, 1] = np.nan  # type: ignore[index]
    elif series == "short":
        x = generate(WAVES, 0, 20)
    elif series == "ragged":
        x = [[1.0, 2.0]] * 150 + [[1.0]] * 150
    with pytest.raises(ValueError, match=match):
        run_forecast(x, horizon, model)  # type: ignore[arg-type]


def test_default_model_on_a_noisy_observed_series() -> None:
    """The acceptance case in small: three noisy channels, several periods, the default model."""
    waves = [
        Wave(1.0, [Term("sin", 3.0, 41.0, 0.3), Term("cos", 2.0, 97.0, 1.0)]),
        Wave(-2.0, [Term("sin", 4.0, 60.0, 0.1), Term("cos", 1.5, 150.0, 0.4)]),
        Wave(0.5, [Term("sin", 2.5, 130.0, 2.0)]),
    ]
    noisy = generate(waves, 0, 1000, noise_std=0.05, seed=3)
    truth = generate(waves, 1000, 30)
    result = run_forecast(noisy, 30)
    assert result.model == "auto" and result.forecast.shape == (30, 3)
    assert isinstance(result.metrics["lstm_correction"], bool)
    rel = np.sqrt(np.mean((result.forecast - truth) ** 2)) / noisy.std(axis=0).mean()
    assert rel < 0.1
