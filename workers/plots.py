"""The forecast plot: the end of the history, the forecast with its bands, the truth if known, the model; as a PNG.

Pure matplotlib (Agg) and numpy. The forecast job body draws it (in the worker, or in the CLI's local runs).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
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


Rows = Sequence[Sequence[float]] | np.ndarray
# Bands, widest first so the narrower one is drawn over it: (label, alpha).
BANDS = (("95", 0.15), ("80", 0.32))


def forecast_figure(
    history: Rows,
    forecast: Rows,
    bands: Mapping[str, tuple[Rows, Rows]] | None,
    actual: Rows | None,
    start: int,
    model: str | None = None,
) -> Figure:
    """One panel per channel: history, the 95% and 80% bands, the forecast, and the actual values on top.

    The forecast covers steps ``start .. start+H-1``; `bands` maps "80" / "95" to (lower, upper), each (H, C).
    """
    hist, fc, act = _as_2d(history, "history"), _as_2d(forecast, "forecast"), _as_2d(actual, "actual")
    if hist is None or fc is None:
        raise ValueError("history and forecast are required")
    horizon, channels = fc.shape
    # Show enough history to see a few periods, but keep the forecast readable.
    shown = hist[-max(3 * horizon, 200) :]
    panels = min(channels, MAX_PANELS)
    curves = Curves(
        t_hist=np.arange(start - len(shown), start),
        history=shown,
        t_fc=np.arange(start, start + horizon),
        forecast=fc,
        bands=_bands_2d(bands),
        actual=act,
    )

    fig = Figure(figsize=(9, 1.2 + 2.2 * panels), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    for c, ax in enumerate(axes):
        _draw_channel(ax, curves, c)
        ax.axvline(start - 0.5, color="0.6", ls=":", lw=1)
    axes[0].legend(loc="upper left", fontsize=8, ncol=5)
    axes[-1].set_xlabel("step")
    title = f"{horizon}-step forecast from step {start}" + (f", model {model}" if model else "")
    if channels > panels:
        title += f" (first {panels} of {channels} channels)"
    fig.suptitle(title)
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class Curves:
    """What one plot draws, as (steps, channels) arrays against their step numbers."""

    t_hist: np.ndarray  # (S,)
    history: np.ndarray  # (S, C), the end of the history
    t_fc: np.ndarray  # (H,)
    forecast: np.ndarray  # (H, C)
    bands: list[tuple[str, float, np.ndarray, np.ndarray]]  # (label, alpha, lower, upper), widest first
    actual: np.ndarray | None  # (<= H, C)


def _bands_2d(bands: Mapping[str, tuple[Rows, Rows]] | None) -> list[tuple[str, float, np.ndarray, np.ndarray]]:
    out = []
    for label, alpha in BANDS:
        if bands and label in bands:
            lo, hi = (_as_2d(b, f"{label}% band") for b in bands[label])
            assert lo is not None and hi is not None
            out.append((label, alpha, lo, hi))
    return out


def _draw_channel(ax: Axes, curves: Curves, c: int) -> None:
    """Channel `c`'s history, bands, forecast and actual values on one panel."""
    if curves.history.shape[1] > c and len(curves.history):
        ax.plot(curves.t_hist, curves.history[:, c], color="0.35", lw=1.0, label="history", zorder=2)
    for label, alpha, lo, hi in curves.bands:
        band = f"{label}% interval"
        ax.fill_between(curves.t_fc, lo[:, c], hi[:, c], color="tab:blue", alpha=alpha, lw=0, label=band, zorder=1)
    ax.plot(curves.t_fc, curves.forecast[:, c], color="tab:blue", lw=1.6, label="forecast", zorder=3)
    if curves.actual is not None:
        # Above the forecast, dashed and dotted: where the two agree, the truth still shows.
        n = min(len(curves.actual), len(curves.t_fc))
        line = ax.plot(curves.t_fc[:n], curves.actual[:n, c], color="tab:orange", lw=1.3, ls="--", zorder=4)[0]
        line.set(marker="." if n <= 120 else None, markersize=4, label="actual")
    ax.set_ylabel(f"channel {c}")
    ax.grid(alpha=0.3)


def figure_png(fig: Figure) -> bytes:
    """A figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
