"""Prediction intervals from the backtest: the forecast plus the empirical quantiles of its past errors."""

from __future__ import annotations

import numpy as np

LEVELS = {"80": 0.80, "95": 0.95}  # label -> central coverage


def prediction_intervals(
    forecast: np.ndarray, residuals: np.ndarray, levels: dict[str, float] = LEVELS
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{label: (lower, upper)}, each (H, C): `forecast` (H, C) plus residual quantiles per horizon step.

    `residuals` (O, H, C) are actual minus forecast at the backtest's rolling origins, so the interval at
    step h widens as the model's h-step errors do, and is not assumed symmetric or Gaussian.
    """
    out = {}
    for label, level in levels.items():
        lo_q, hi_q = np.quantile(residuals, [(1 - level) / 2, (1 + level) / 2], axis=0)  # (H, C) each
        out[label] = (forecast + lo_q, forecast + hi_q)
    return out
