"""What a job does, apart from the queue: one body per kind, shared by the Celery tasks and the CLI's local runs.

No Celery and no Redis here: inputs are validated request schemas and image bytes, outputs are named blobs
and JSON-ready metrics, and whoever follows the job (the worker's job record, the CLI's progress bar) is a
`Listener`. Progress from models/ arrives as `models.progress.Progress` and leaves as listener calls.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageOps

from app.images import orientation
from app.schemas import StyleTransferParams, WaveForecastRequest, WebhookFields
from models import nst
from models import waves as forecasting
from models.progress import OnProgress, Progress

log = logging.getLogger("stylewave.worker")


class Listener(Protocol):
    """Who follows a job: the worker's `JobRun` (the job record in Redis) or the CLI's progress bar."""

    def progress(self, fraction: float, message: str, metrics: dict[str, Any] | None = None) -> None: ...

    def preview(self, png: bytes) -> None: ...

    def should_stop(self) -> bool: ...


@dataclass
class JobOutput:
    """A finished job: its metrics (for the job record) and its outputs, by the names they are stored under."""

    metrics: dict[str, Any]
    outputs: dict[str, bytes]  # "result" (PNG or JSON), "tile{i}" (sweep tiles), "plot" (forecast PNG)


def png_bytes(image: Image.Image) -> bytes:
    """An image as PNG bytes."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def style_config(params: StyleTransferParams) -> nst.StyleConfig:
    """The validated request as the algorithm's plain config."""
    fields: dict[str, Any] = params.model_dump(mode="json", exclude={"sweep_style_layers", *WebhookFields.model_fields})
    fields["sweep_style_layers"] = params.layer_stacks()
    return nst.StyleConfig(**fields)


def style_job(
    params: StyleTransferParams,
    content: bytes | None,
    styles: list[bytes],
    *,
    device: str,
    weights_path: str | None = None,
    listener: Listener | None = None,
    memory_bytes: int | None = None,
) -> JobOutput:
    """Run a style request on encoded images: the result PNG, one PNG per sweep tile, and the metrics.

    `memory_bytes`: what the job may plan for (`workers/memory.py`); scales that would not fit run in tiles.
    """
    result = nst.stylize(
        _decode(content) if content is not None else None,
        [_decode(s) for s in styles],
        style_config(params),
        device=device,
        weights_path=weights_path,
        on_progress=_reporter(listener) if listener is not None else None,
        should_stop=listener.should_stop if listener is not None else None,
        memory_bytes=memory_bytes,
    )
    outputs = {"result": png_bytes(result.image)}
    outputs.update({f"tile{i}": png_bytes(tile) for i, (_, tile) in enumerate(result.tiles)})
    metrics: dict[str, Any] = dict(result.metrics)
    metrics["losses"] = rounded_losses(result.metrics.get("losses") or {})  # as the progress reports show them
    if result.tiles:
        metrics["tiles"] = [label for label, _ in result.tiles]
    return JobOutput(metrics, outputs)


def forecast_job(
    request: WaveForecastRequest,
    *,
    cache: MutableMapping[str, bytes] | None = None,
    listener: Listener | None = None,
    plot: bool = True,
) -> JobOutput:
    """Run a forecast request: the JSON of `GET /v1/jobs/{id}/result` as "result", and the plot PNG as "plot"."""
    series, actual = _forecast_inputs(request)  # (T, C), (H, C) or None
    result = forecasting.run_forecast(
        series,
        request.horizon,
        request.model,
        request.seed,
        season_length=request.season_length or (),
        cache=cache,
        on_progress=_reporter(listener) if listener is not None else None,
        should_stop=listener.should_stop if listener is not None else None,
        lstm_seed_steps=request.lstm_seed_steps,
    )
    metrics = dict(result.metrics, model=result.model)
    if actual is not None:
        metrics["forecast_rmse"] = float(np.sqrt(np.mean((result.forecast - actual) ** 2)))
    outputs: dict[str, bytes] = {}
    if plot:
        try:
            outputs["plot"] = _plot(series, actual, result)
        except (ValueError, OverflowError, FloatingPointError) as exc:  # the forecast stands without its picture
            log.warning("forecast plot not drawn: %s", exc)
            metrics["plot"] = f"not drawn: {exc}"
    body: dict[str, Any] = {
        "start": len(series),
        "horizon": request.horizon,
        "channels": int(series.shape[1]),
        "model": result.model,
        "forecast": result.forecast.tolist(),
        "intervals": {k: {"lower": lo.tolist(), "upper": hi.tolist()} for k, (lo, hi) in result.intervals.items()},
        "metrics": metrics,
    }
    if actual is not None:
        body["actual"] = actual.tolist()
    if request.timestamps is not None:
        body["timestamps"] = request.timestamps
    outputs["result"] = json.dumps(body).encode()
    return JobOutput(metrics, outputs)


def _plot(series: np.ndarray, actual: np.ndarray | None, result: forecasting.ForecastResult) -> bytes:
    """The forecast plot PNG: the end of the history, the forecast with its bands, the truth when known."""
    # matplotlib: a second's import that style jobs never need
    from workers.plots import figure_png, forecast_figure

    return figure_png(forecast_figure(series, result.forecast, result.intervals, actual, len(series), result.model))


def _forecast_inputs(request: WaveForecastRequest) -> tuple[np.ndarray, np.ndarray | None]:
    """The observed series (T, C), and the noise-free truth (H, C) when the waves were given."""
    if request.series is not None:
        return np.asarray(request.series, dtype=np.float64), None
    assert request.waves is not None  # the schema requires exactly one of the two
    channels = [
        forecasting.Wave(w.offset, [forecasting.Term(**t.model_dump()) for t in w.terms]) for w in request.waves
    ]
    series = forecasting.generate(channels, 0, request.history, noise_std=request.noise_std, seed=request.seed)
    return series, forecasting.generate(channels, request.history, request.horizon, noise_std=0.0)


def rounded_losses(losses: Any) -> dict[str, float]:
    """Loss terms for the job record: one set, the same in progress reports and in the final metrics."""
    return {k: round(float(v), 6) for k, v in dict(losses).items()}


def _decode(blob: bytes) -> Image.Image:
    """The image, opened lazily: models/nst decodes it straight down to the size it works at (`imaging.shrink`).

    A photo whose EXIF orientation turns or mirrors it (as phones store them) is decoded now and turned upright,
    as a browser shows it; the API's size checks (app/images.py) already count it upright.
    """
    try:
        image = Image.open(io.BytesIO(blob))
        if orientation(image) != 1:
            return ImageOps.exif_transpose(image)
        return image
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"an input image cannot be read ({exc})") from exc


def _reporter(listener: Listener) -> OnProgress:
    """models/' progress as listener calls: the preview PNG, then fraction, message and rounded losses."""

    def report(p: Progress) -> None:
        if p.image is not None:
            listener.preview(png_bytes(p.image))
        metrics = {"losses": rounded_losses(p.losses)} if p.losses else None
        listener.progress(p.fraction, p.message, metrics)

    return report
