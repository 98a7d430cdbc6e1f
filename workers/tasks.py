"""The Celery tasks: decode the job's inputs, call models/, store the outputs. Nothing more."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
from PIL import Image

from app.plots import forecast_plot_png
from app.queue import FORECAST_TASK, STYLE_TASK
from app.schemas import StyleTransferParams, WaveForecastRequest
from models import forecast as forecasting
from models import style as nst
from models.waves import Term, Wave, generate
from workers.celery_app import celery, settings, store, this_worker
from workers.runner import job_run


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def style_config(params: StyleTransferParams) -> nst.StyleConfig:
    """The validated request as the algorithm's plain config."""
    fields: dict[str, Any] = params.model_dump(exclude={"sweep_style_layers"})
    fields["sweep_style_layers"] = params.layer_stacks()
    return nst.StyleConfig(**fields)


@celery.task(name=STYLE_TASK)
def style_transfer(job_id: str, params: dict[str, Any]) -> None:
    """Run one style-transfer job (any mode, or a sweep) and store the PNG."""
    request = StyleTransferParams.model_validate(params)
    with job_run(store(), settings, job_id, this_worker(), (nst.Canceled,)) as run:
        if run is None:
            return
        names = store().input_names(job_id)
        content = _image(store().input(job_id, "content")) if "content" in names else None
        styles = [_image(store().input(job_id, n)) for n in names if n.startswith("style")]

        def on_progress(p: nst.Progress) -> None:
            if p.image is not None:
                run.put_blob("preview", png_bytes(p.image))
            losses = {k: round(float(v), 6) for k, v in p.losses.items()}
            run.progress(p.step / max(p.total, 1), f"step {p.step}/{p.total}", {"losses": losses})

        result = nst.stylize(content, styles, style_config(request), device=nst.resolve_device(settings.device),
                             weights_path=settings.vgg_weights, on_progress=on_progress,
                             should_stop=run.should_stop)  # fmt: skip
        outputs = {"result": png_bytes(result.image)}
        for i, (_, tile) in enumerate(result.tiles):
            outputs[f"tile{i}"] = png_bytes(tile)
        metrics = dict(result.metrics)
        if result.tiles:
            metrics["tiles"] = [label for label, _ in result.tiles]
        run.succeed(metrics, outputs)


def _image(blob: bytes | None) -> Image.Image:
    if blob is None:
        raise ValueError("an input image has expired from the store")
    return Image.open(io.BytesIO(blob)).convert("RGB")


@celery.task(name=FORECAST_TASK)
def wave_forecast(job_id: str, params: dict[str, Any]) -> None:
    """Run one forecast job and store its JSON result and plot."""
    request = WaveForecastRequest.model_validate(params)
    with job_run(store(), settings, job_id, this_worker(), (forecasting.Canceled,)) as run:
        if run is None:
            return
        actual: np.ndarray | None = None
        if request.waves is not None:
            waves = [Wave(offset=w.offset, terms=[Term(**t.model_dump()) for t in w.terms]) for w in request.waves]
            series = generate(waves, 0, request.history, noise_std=request.noise_std, seed=request.seed)
            actual = generate(waves, request.history, request.horizon, noise_std=0.0)
        else:
            series = np.asarray(request.series, dtype=np.float64)

        result = forecasting.run_forecast(
            series, request.horizon, request.model, request.seed, cache=store().model_cache(),
            on_progress=lambda f, msg: run.progress(f, msg), should_stop=run.should_stop,
        )  # fmt: skip
        metrics = dict(result.metrics)
        metrics["model"] = result.model
        if actual is not None:
            metrics["forecast_rmse"] = float(np.sqrt(np.mean((result.forecast - actual) ** 2)))
        body: dict[str, Any] = {
            "start": len(series),
            "horizon": request.horizon,
            "channels": int(series.shape[1]),
            "model": result.model,
            "forecast": result.forecast.tolist(),
            "intervals": {
                level: {"lower": lo.tolist(), "upper": hi.tolist()} for level, (lo, hi) in result.intervals.items()
            },
            "metrics": metrics,
        }
        if actual is not None:
            body["actual"] = actual.tolist()
        lo95, hi95 = result.intervals["95"]
        plot = forecast_plot_png(series[-max(4 * request.horizon, 200):].tolist(), result.forecast, lo95, hi95,
                                 body.get("actual"), start=len(series))  # fmt: skip
        run.succeed(metrics, {"result": json.dumps(body).encode(), "plot": plot})
