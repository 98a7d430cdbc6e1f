"""The job bodies the worker and the CLI share: inputs in, named outputs and listener calls out."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from PIL import Image

from app.schemas import MAX_VALUE, StyleTransferParams, WaveForecastRequest
from models.progress import Canceled
from tests.app.test_images import turned_jpeg
from tests.conftest import make_content, make_style
from workers.jobs import forecast_job, style_job


class Recorder:
    """A listener that keeps what it is told, and asks to stop after `stop_after` progress reports."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.reports: list[tuple[float, str, dict[str, Any] | None]] = []
        self.previews: list[bytes] = []
        self.stop_after = stop_after

    def progress(self, fraction: float, message: str, metrics: dict[str, Any] | None = None) -> None:
        self.reports.append((fraction, message, metrics))

    def preview(self, png: bytes) -> None:
        self.previews.append(png)

    def should_stop(self) -> bool:
        return self.stop_after is not None and len(self.reports) >= self.stop_after


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_style_job_reports_steps_previews_and_returns_pngs() -> None:
    params = StyleTransferParams(size=32, iterations=10, scales=1, sweep_style_weights=[1.0, 100.0])
    listener = Recorder()
    out = style_job(params, png(make_content()), [png(make_style())], device="cpu", listener=listener)
    assert set(out.outputs) == {"result", "tile0", "tile1"}
    assert Image.open(io.BytesIO(out.outputs["tile0"])).size == (32, 24)
    assert out.metrics["tiles"] == ["beta=1", "beta=100"]
    counts = {k: out.metrics[k] for k in ("iterations", "width", "height")}
    assert counts == {"iterations": 10, "width": 32, "height": 24}
    assert all(type(v) is int for v in counts.values())  # whole numbers are ints in the record: 10, not 10.0
    assert [r[1] for r in listener.reports] == [f"step {i}/10" for i in range(1, 11)]
    assert listener.reports[-1][0] == 1.0 and "total" in (listener.reports[-1][2] or {})["losses"]
    # One loss set: the final metrics hold the last step's losses, exactly as the last progress report did.
    assert out.metrics["losses"] == (listener.reports[-1][2] or {})["losses"]
    assert not [k for k in out.metrics if k.endswith("_loss")]
    assert len(listener.previews) == 1 and listener.previews[0][:4] == b"\x89PNG"  # preview_every 10


def test_style_job_stops_when_the_listener_asks() -> None:
    params = StyleTransferParams(mode="content", size=32, iterations=10, scales=1)
    with pytest.raises(Canceled):
        style_job(params, png(make_content()), [], device="cpu", listener=Recorder(stop_after=3))


def test_forecast_job_returns_the_api_result_and_the_plot() -> None:
    request = WaveForecastRequest(
        history=400,
        horizon=10,
        model="harmonic",
        waves=[{"offset": 1, "terms": [{"fn": "sin", "amplitude": 2, "period": 50}]}],
    )
    listener = Recorder()
    out = forecast_job(request, listener=listener)
    body = json.loads(out.outputs["result"])
    assert (body["start"], body["horizon"], body["channels"], body["model"]) == (400, 10, 1, "harmonic")
    assert len(body["actual"]) == 10 and body["metrics"]["forecast_rmse"] < 0.01
    assert out.metrics == body["metrics"] and out.outputs["plot"][:4] == b"\x89PNG"
    fractions = [r[0] for r in listener.reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and listener.reports[-1][1] == "done"
    assert "plot" not in forecast_job(request, plot=False).outputs


def test_a_series_at_the_value_bound_gets_its_forecast_and_plot() -> None:
    rows = [[MAX_VALUE * (-1) ** i] for i in range(60)]  # the API's largest magnitude, alternating sign
    out = forecast_job(WaveForecastRequest(series=rows, horizon=3, model="auto"))
    body = json.loads(out.outputs["result"])
    assert all(abs(v) <= 2 * MAX_VALUE for row in body["forecast"] for v in row)
    assert out.outputs["plot"][:4] == b"\x89PNG" and "plot" not in body["metrics"]


def test_a_plot_that_cannot_be_drawn_leaves_the_forecast(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ValueError("arange: cannot compute length")

    monkeypatch.setattr("workers.plots.forecast_figure", refuse)
    out = forecast_job(WaveForecastRequest(series=[[float(i % 5)] for i in range(60)], horizon=3, model="ar"))
    body = json.loads(out.outputs["result"])
    assert "plot" not in out.outputs and len(body["forecast"]) == 3
    assert body["metrics"]["plot"] == "not drawn: arange: cannot compute length"


def test_a_photo_stored_on_its_side_is_stylised_upright() -> None:
    params = StyleTransferParams(mode="content", size=64, iterations=2, scales=1)
    out = style_job(params, turned_jpeg(6, (64, 48)), [], device="cpu")
    assert Image.open(io.BytesIO(out.outputs["result"])).size == (48, 64)
