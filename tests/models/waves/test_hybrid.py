"""The hybrid forecaster's parts: periods, the seasonal component, classical members, the combination, intervals."""

from __future__ import annotations

import numpy as np
import pytest

from models.waves.classical import AutoAR, HoltWinters, SeasonalNaive, Smoothing, Theta
from models.waves.combine import (
    MIN_SHARE,
    TOP_K,
    Combination,
    _weights,
    backtest_split,
    bucket_slices,
    min_lstm_history,
)
from models.waves.intervals import conformal_intervals
from models.waves.lstm import MIN_GAIN, LSTMConfig, LSTMForecaster
from models.waves.seasonality import Seasonal, detect_periods


def monthly(n: int = 144, seed: int = 0) -> np.ndarray:
    """An airline-like series: trend, multiplicative yearly season, noise; (n, 1)."""
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    season = 1 + 0.2 * np.sin(2 * np.pi * t / 12) + 0.1 * np.cos(4 * np.pi * t / 12 + 1)
    return ((100 + 2 * t) * season * np.exp(rng.normal(0, 0.02, n)))[:, None]


def test_periods_of_a_monthly_series_and_of_two_seasonalities() -> None:
    assert detect_periods(np.log(monthly()[:, 0])) == [12.0]
    t = np.arange(24 * 7 * 8)
    rng = np.random.default_rng(1)
    day = np.where(t % 24 < 8, 0.0, 3.0) + np.sin(2 * np.pi * t / 24)  # a sharp daily profile
    week = np.where(t % 168 < 48, -2.0, 0.5)  # quieter weekends
    found = detect_periods(day + week + rng.normal(0, 0.3, len(t)))
    assert 24.0 in found and 168.0 in found


@pytest.mark.parametrize("kind", ["noise", "random walk"])
def test_no_period_in_noise_or_a_random_walk(kind: str) -> None:
    e = np.random.default_rng(2).normal(size=300)
    assert detect_periods(e if kind == "noise" else np.cumsum(e)) == []


def test_hints_come_first_and_must_fit_twice() -> None:
    assert detect_periods(np.log(monthly()[:, 0]), hints=[7.0, 500.0])[:1] == [7.0]
    assert 500.0 not in detect_periods(np.log(monthly()[:, 0]), hints=[500.0])


def test_seasonal_component_of_a_sharp_profile_and_a_fractional_period() -> None:
    t = np.arange(400, dtype=np.float64)
    weekly = np.array([0, 0, 0, 0, 0, 5, 5], dtype=np.float64)[t.astype(int) % 7]
    fitted = Seasonal.fit(weekly + 0.01 * t, [7.0])
    ahead = np.arange(400, 407)
    profile = fitted.component(ahead.astype(np.float64))
    expected = np.array([0, 0, 0, 0, 0, 5, 5], dtype=np.float64)[ahead % 7]
    assert np.allclose(profile - profile.mean(), expected - expected.mean(), atol=0.05)
    future = np.arange(400, 460, dtype=np.float64)
    yearly = Seasonal.fit(np.sin(2 * np.pi * t / 52.18), [52.18]).component(future)
    assert np.allclose(yearly, np.sin(2 * np.pi * future / 52.18), atol=0.02)


def test_smoothing_follows_a_line_and_a_constant() -> None:
    line = (3.0 + 0.5 * np.arange(60))[:, None]
    holt = Smoothing("holt").fit(line[:50]).predict_at(line, np.array([50]), 10)[0, :, 0]
    assert np.allclose(holt, line[50:60, 0], rtol=1e-6)
    damped = Smoothing("damped").fit(line[:50]).predict_at(line, np.array([50]), 10)[0, :, 0]
    assert np.all(damped <= line[50:60, 0] + 1e-9) and np.allclose(damped, line[50:60, 0], rtol=0.05)
    flat = np.full((40, 1), 7.0)
    assert np.allclose(Smoothing("ses").fit(flat).predict_at(flat, np.array([40]), 5), 7.0)
    # Theta extrapolates half the slope from a level that lags: between the last value and the line.
    theta = Theta().fit(line[:50]).predict_at(line, np.array([50]), 10)[0, :, 0]
    assert np.all(theta > line[49, 0] - 1) and np.all(theta <= line[50:60, 0]) and np.all(np.diff(theta) > 0)


def test_autoregression_finds_the_order_and_is_exact_on_a_sinusoid() -> None:
    rng = np.random.default_rng(3)
    x = np.zeros(2000)
    for t in range(2, 2000):
        x[t] = 0.6 * x[t - 1] - 0.3 * x[t - 2] + rng.normal()
    model = AutoAR().fit(x[:, None])
    assert model.orders == [2]
    assert np.allclose(model.coefs[0][:2], [-0.3, 0.6], atol=0.06)
    wave = np.sin(np.arange(300) / 5.0)[:, None]
    pred = AutoAR().fit(wave[:250]).predict_at(wave, np.array([250]), 40)[0]
    assert np.abs(pred - wave[250:290]).max() < 1e-6


def test_holt_winters_and_seasonal_naive_on_a_seasonal_line() -> None:
    t = np.arange(120)
    x = (10 + 0.3 * t + np.array([0, 2, 5, 1])[t % 4])[:, None].astype(np.float64)
    pred = HoltWinters(4).fit(x[:100]).predict_at(x, np.array([100]), 12)[0]
    assert np.abs(pred - x[100:112]).max() < 0.5
    naive = SeasonalNaive(4).fit(x[:100]).predict_at(x, np.array([100]), 8)[0]
    np.testing.assert_array_equal(naive, np.concatenate([x[96:100], x[96:100]]))
    drift = SeasonalNaive(4, drift=True).fit(x[:100]).predict_at(x, np.array([100]), 8)[0]
    assert np.abs(drift - x[100:108]).max() < 1e-9


def test_buckets_and_backtest_split() -> None:
    assert bucket_slices(18) == [slice(0, 2), slice(2, 9), slice(9, 18)]
    assert bucket_slices(1) == [slice(0, 1)]
    assert bucket_slices(6) == [slice(0, 1), slice(1, 3), slice(3, 6)]
    for n, h in [(24, 12), (24, 1), (144, 24), (5000, 200)]:
        split = backtest_split(n, h)
        assert max(h // 2, 12) <= split <= n - h
    assert min_lstm_history(12) > 24


def test_combination_weights_and_fallback_without_the_lstm() -> None:
    x = monthly(60)
    comb = Combination(12).fit(x)
    assert "lstm" in comb.notes and "needs" in comb.notes["lstm"]
    assert np.allclose(comb.weights.sum(axis=0), 1.0)  # every step and channel
    assert comb.backtest_forecast().shape == comb.actual.shape
    pred = comb.predict_at(x, np.array([60]), 12)[0]
    assert pred.shape == (12, 1) and (pred > 0).all()
    table = comb.weight_table(0)
    assert list(table) == ["steps 1-2", "steps 3-6", "steps 7-12"]
    assert all(abs(sum(w.values()) - 1) < 0.01 for w in table.values())


def test_weights_leave_out_members_that_cannot_move_the_forecast() -> None:
    # Mean errors 1, 2, 4, 1e6 and 8 in every step (one channel, 100 origins: inverse squared errors).
    err = np.ones((5, 100, 4, 1)) * np.array([1.0, 2.0, 4.0, 1e6, 8.0])[:, None, None, None]
    w = _weights(err, TOP_K)[:, 0, 0]
    assert w[3] == 0.0  # (1 / 1e6)^2 of the best's weight: under MIN_SHARE, dropped
    assert (1 / 1e6) ** 2 < MIN_SHARE < (1 / 8) ** 2
    assert np.allclose(w[[0, 1, 2, 4]], np.array([1, 1 / 4, 1 / 16, 1 / 64]) / (1 + 1 / 4 + 1 / 16 + 1 / 64))


def test_combination_of_one_member() -> None:
    x = monthly(80)
    comb = Combination(6, use_lstm=False, only="theta_log").fit(x)
    assert comb.names == ["theta_log"] and list(comb.members) == ["theta_log"]


def test_conformal_intervals_cover_and_nest() -> None:
    rng = np.random.default_rng(4)
    steps = np.arange(1, 11)[None, :, None]
    resid = rng.normal(size=(400, 10, 2)) * np.sqrt(steps)  # errors growing with the step
    bands = conformal_intervals(np.zeros((10, 2)), resid[:200], nonneg=np.array([False, True]))
    lo80, hi80 = bands["80"]
    lo95, hi95 = bands["95"]
    assert np.all(lo95 <= lo80) and np.all(hi80 <= hi95) and np.all(hi95[1:] >= hi95[:-1] - 1e-9)
    assert np.all(lo95[:, 1] == 0.0)
    fresh = resid[200:, :, 0]  # held-out errors
    inside = (fresh >= lo95[None, :, 0]) & (fresh <= hi95[None, :, 0])
    assert 0.9 <= inside.mean() <= 0.99


def test_a_second_season_gets_its_own_seasonal_naive() -> None:
    t = np.arange(24 * 7 * 6)
    rng = np.random.default_rng(3)
    x = (np.where(t % 24 < 8, 0.0, 3.0) + np.where(t % 168 < 48, -1.2, 0.0) + rng.normal(0, 0.2, len(t)))[:, None]
    comb = Combination(24, use_lstm=False).fit(x)
    assert comb.periods == [[24.0, 168.0]]
    assert "seasonal_naive" in comb.names and "seasonal_naive_long" in comb.names
    # The weekly profile repeats exactly, so its seasonal naive beats the daily one on the backtest.
    scores = comb.scores()
    assert scores["seasonal_naive_long"]["mae"] < 0.5 * scores["seasonal_naive"]["mae"]


def test_lstm_training_stops_early_when_it_cannot_help_the_highway() -> None:
    # White noise: nothing is predictable, so the correction never beats the highway on held-out windows.
    x = np.random.default_rng(4).normal(size=(1500, 1))
    cfg = LSTMConfig(channels=1, horizon=10, window=32, steps=400, ridges=(1e-4, 1.0))
    model = LSTMForecaster(cfg).fit(x)
    assert model.trained_steps < cfg.steps  # patience ran out well before the end
    assert model.net.lstm_gate.item() == 0.0 and model.val_gain < MIN_GAIN
