"""Forecast plot as PNG bytes: the end of the history, the forecast with its 95% band, and the truth if known.

Pure matplotlib (Agg) and numpy. The forecast job body draws it (in the worker, or in the CLI's local runs).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MAX_PANELS = 8  # channels drawn, one panel each; more would be unreadable


def _as_2d(values: Sequence | np.ndarray | None, name: str) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be rows of channels, got shape {arr.shape}")
    return arr


def forecast_plot_png(
    history: Sequence[Sequence[float]] | np.ndarray,
    forecast: Sequence[Sequence[float]] | np.ndarray,
    lower95: Sequence[Sequence[float]] | np.ndarray | None,
    upper95: Sequence[Sequence[float]] | np.ndarray | None,
    actual: Sequence[Sequence[float]] | np.ndarray | None,
    start: int,
) -> bytes:
    """Draw one panel per channel; the forecast covers steps ``start .. start+H-1``."""
    hist = _as_2d(history, "history")
    fc = _as_2d(forecast, "forecast")
    if hist is None or fc is None:
        raise ValueError("history and forecast are required")
    lo, hi, act = _as_2d(lower95, "lower95"), _as_2d(upper95, "upper95"), _as_2d(actual, "actual")
    horizon, channels = fc.shape
    # Show enough history to see a few periods, but keep the forecast readable.
    shown = hist[-max(3 * horizon, 200) :]
    t_hist = np.arange(start - len(shown), start)
    t_fc = np.arange(start, start + horizon)
    panels = min(channels, MAX_PANELS)

    fig = Figure(figsize=(9, 1.2 + 2.2 * panels), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    for c, ax in enumerate(axes):
        if shown.shape[1] > c and len(shown):
            ax.plot(t_hist, shown[:, c], color="0.35", lw=1.0, label="history")
        if lo is not None and hi is not None:
            ax.fill_between(t_fc, lo[:, c], hi[:, c], color="tab:blue", alpha=0.2, lw=0, label="95% interval")
        if act is not None:
            ax.plot(t_fc[: min(len(act), horizon)], act[:horizon, c], color="tab:green", lw=1.2, label="actual")
        ax.plot(t_fc, fc[:, c], color="tab:blue", lw=1.5, label="forecast")
        ax.axvline(start - 0.5, color="0.6", ls=":", lw=1)
        ax.set_ylabel(f"channel {c}")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper left", fontsize=8, ncol=4)
    axes[-1].set_xlabel("step")
    title = f"{horizon}-step forecast from step {start}"
    if channels > panels:
        title += f" (first {panels} of {channels} channels)"
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
