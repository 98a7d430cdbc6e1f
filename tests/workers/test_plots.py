"""The forecast plot is a PNG, with or without the truth and the band."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from workers.plots import figure_png, forecast_figure

PNG = b"\x89PNG\r\n\x1a\n"


def _waves(start: int, length: int, channels: int) -> np.ndarray:
    t = np.arange(start, start + length)[:, None]
    return np.sin(t / 15.0 + np.arange(channels))  # (T, C)


def test_plot_with_band_and_actual_is_a_png() -> None:
    history = _waves(0, 300, 2)
    forecast = _waves(300, 40, 2)
    bands = {"80": (forecast - 0.1, forecast + 0.1), "95": (forecast - 0.2, forecast + 0.2)}
    png = figure_png(forecast_figure(history.tolist(), forecast, bands, forecast.tolist(), 300, "lstm"))
    assert png.startswith(PNG)
    image = Image.open(io.BytesIO(png))
    assert image.width > 400 and image.height > 300


def test_plot_without_actual_or_band_and_many_channels() -> None:
    png = figure_png(forecast_figure(_waves(0, 50, 12).tolist(), _waves(50, 5, 12), None, None, 50))
    assert png.startswith(PNG)
    # Twelve channels are capped to a readable number of panels, so the figure stays bounded.
    assert Image.open(io.BytesIO(png)).height < 2200


def test_actual_is_drawn_above_the_forecast_both_bands_show_and_the_title_names_the_model() -> None:
    forecast = _waves(300, 40, 2)
    bands = {"80": (forecast - 0.1, forecast + 0.1), "95": (forecast - 0.3, forecast + 0.3)}
    fig = forecast_figure(_waves(0, 300, 2), forecast, bands, forecast, 300, "harmonic")
    assert "model harmonic" in fig.texts[0].get_text()  # the suptitle
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert lines["actual"].get_zorder() > lines["forecast"].get_zorder()
    fills = {c.get_label(): c.get_alpha() for c in ax.collections}
    assert set(fills) == {"80% interval", "95% interval"} and fills["80% interval"] > fills["95% interval"] >= 0.15
