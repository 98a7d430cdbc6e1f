"""Prediction intervals from the backtest: normalised split-conformal bands, per horizon step.

The forecast's errors at the backtest origins are divided by a smooth per-step scale, sigma(h) = a * h^b fitted
to the mean absolute error at each step; the band at step h is the forecast +- q * sigma(h), where q is the
conformal quantile of those scores (Vovk et al., 2005; Lei et al., 2018). Pooling the steps gives many scores
even from a few origins, while the quantile's rank is set by the number of origins, not of scores: the errors
along one path are strongly correlated, so the origins are what is independent.
"""

from __future__ import annotations

import numpy as np

LEVELS = {"80": 0.80, "95": 0.95}  # label -> central coverage


def step_scale(residuals: np.ndarray) -> np.ndarray:
    """sigma (H, C): a power law in the step fitted to the mean absolute residual (O, H, C) at each step."""
    mean_abs = np.abs(residuals).mean(axis=0) + 1e-12  # (H, C)
    h = residuals.shape[1]
    if h < 3:
        return mean_abs
    log_steps = np.log(np.arange(1, h + 1, dtype=np.float64))
    slope, intercept = np.polyfit(log_steps, np.log(mean_abs), 1)  # (C,) each
    return np.exp(intercept + np.outer(log_steps, slope))


def conformal_intervals(
    forecast: np.ndarray,
    residuals: np.ndarray,
    levels: dict[str, float] = LEVELS,
    nonneg: np.ndarray | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{label: (lower, upper)}, each (H, C), around `forecast` (H, C) from backtest residuals (O, H, C).

    `nonneg` (C,) marks channels that never went below zero: their lower bounds stop at zero.
    """
    origins, _, channels = residuals.shape
    sigma = step_scale(residuals)  # (H, C)
    scores = (np.abs(residuals) / sigma).reshape(-1, channels)  # (O*H, C)
    out = {}
    for label, level in levels.items():
        rank = min(1.0, np.ceil((origins + 1) * level) / origins)  # finite-sample conformal rank
        q = np.quantile(scores, rank, axis=0)  # (C,)
        lower, upper = forecast - q * sigma, forecast + q * sigma
        if nonneg is not None:
            lower = np.where(nonneg, np.maximum(lower, 0.0), lower)
        out[label] = (lower, upper)
    return out
