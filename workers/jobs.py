"""What a job does, apart from the queue: shared by the Celery tasks and the CLI's local runs.

No Celery and no Redis here: inputs are validated request schemas, outputs are bytes and JSON-ready dicts,
and progress / cancel arrive as callbacks.
"""

from __future__ import annotations

import io
from collections.abc import Callable, MutableMapping
from typing import Any

import numpy as np
from PIL import Image

from app.plots import forecast_plot_png
from app.schemas import StyleTransferParams, WaveForecastRequest, WebhookFields
from models import forecast as forecasting
from models import style as nst
from models.waves import Term, Wave, generate


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def style_config(params: StyleTransferParams) -> nst.StyleConfig:
    """The validated request as the algorithm's plain config."""
    fields: dict[str, Any] = params.model_dump(exclude={"sweep_style_layers", *WebhookFields.model_fields})
    fields["sweep_style_layers"] = params.layer_stacks()
    return nst.StyleConfig(**fields)


def forecast_job(
    request: WaveForecastRequest,
    *,
    cache: MutableMapping[str, bytes] | None = None,
    on_progress: Callable[[float, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    plot: bool = True,
) -> tuple[dict[str, Any], bytes]:
    """Run a forecast request: the result JSON of `GET /v1/jobs/{id}/result` and the plot PNG (or b"")."""
    actual: np.ndarray | None = None
    if request.waves is not None:
        waves = [Wave(offset=w.offset, terms=[Term(**t.model_dump()) for t in w.terms]) for w in request.waves]
        series = generate(waves, 0, request.history, noise_std=request.noise_std, seed=request.seed)  # (T, C)
        actual = generate(waves, request.history, request.horizon, noise_std=0.0)  # (H, C), noise-free truth
    else:
        series = np.asarray(request.series, dtype=np.float64)  # (T, C)

    result = forecasting.run_forecast(series, request.horizon, request.model, request.seed, cache=cache,
                                      on_progress=on_progress, should_stop=should_stop,
                                      lstm_seed_steps=request.lstm_seed_steps)  # fmt: skip
    metrics = dict(result.metrics, model=result.model)
    if actual is not None:
        metrics["forecast_rmse"] = float(np.sqrt(np.mean((result.forecast - actual) ** 2)))
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
    png = b""
    if plot:
        lo95, hi95 = result.intervals["95"]
        tail = series[-max(4 * request.horizon, 200):]  # (<=T, C): the end of the history, for context
        png = forecast_plot_png(tail.tolist(), result.forecast, lo95, hi95, body.get("actual"), start=len(series))
    return body, png
