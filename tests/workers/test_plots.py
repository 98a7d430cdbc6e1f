"""The forecast plot is a PNG, with or without the truth and the band."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from workers.plots import forecast_plot_png

PNG = b"\x89PNG\r\n\x1a\n"


def _waves(start: int, length: int, channels: int) -> np.ndarray:
    t = np.arange(start, start + length)[:, None]
    return np.sin(t / 15.0 + np.arange(channels))  # (T, C)


def test_plot_with_band_and_actual_is_a_png() -> None:
    history = _waves(0, 300, 2)
    forecast = _waves(300, 40, 2)
    png = forecast_plot_png(history.tolist(), forecast, forecast - 0.2, forecast + 0.2, forecast.tolist(), 300)
    assert png.startswith(PNG)
    image = Image.open(io.BytesIO(png))
    assert image.width > 400 and image.height > 300


def test_plot_without_actual_or_band_and_many_channels() -> None:
    png = forecast_plot_png(_waves(0, 50, 12).tolist(), _waves(50, 5, 12), None, None, None, 50)
    assert png.startswith(PNG)
    # Twelve channels are capped to a readable number of panels, so the figure stays bounded.
    assert Image.open(io.BytesIO(png)).height < 2200
