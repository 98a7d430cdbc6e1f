"""Wave forecasting: generated or observed multi-channel series, LSTMs on [x, x', x''] and baselines.

Modules: `generator` (waves from sines and cosines), `features` ([x, x', x'']), `lstm` (our LSTM), `seed_lstm` (the
seed experiment's), `baselines` (persistence, AR, harmonic), `classical` (exponential smoothing, Theta, AR,
Holt-Winters, seasonal naive), `seasonality` (period detection, Fourier seasonal component), `members` (the
hybrid's members and the seasonal views they share), `combine` (the backtest-weighted combination),
`intervals` (conformal prediction intervals) and `forecast` (backtest, choose, fit, intervals, metrics:
`run_forecast`).
"""

from models.progress import Canceled, Progress
from models.waves.features import features
from models.waves.forecast import (
    MAX_CHANNELS,
    MAX_HISTORY,
    MAX_HORIZON,
    MODELS,
    ForecastModel,
    ForecastResult,
    min_history,
    run_forecast,
)
from models.waves.generator import ORIGINAL_WAVES, Term, Wave, generate
from models.waves.intervals import conformal_intervals

__all__ = [
    "MAX_CHANNELS",
    "MAX_HISTORY",
    "MAX_HORIZON",
    "MODELS",
    "ORIGINAL_WAVES",
    "Canceled",
    "ForecastModel",
    "ForecastResult",
    "Progress",
    "Term",
    "Wave",
    "features",
    "generate",
    "min_history",
    "conformal_intervals",
    "run_forecast",
]
