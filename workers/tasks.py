"""The Celery tasks: decode the job's inputs, call models/, store the outputs. Nothing more."""

from __future__ import annotations

import io
import json
from typing import Any

from PIL import Image

from app.queue import FORECAST_TASK, STYLE_TASK
from app.schemas import StyleTransferParams, WaveForecastRequest
from models import forecast as forecasting
from models import style as nst
from workers.celery_app import celery, settings, store, this_worker
from workers.jobs import forecast_job, png_bytes, style_config
from workers.runner import job_run


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
        metrics: dict[str, Any] = dict(result.metrics)
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
        body, plot = forecast_job(request, cache=store().model_cache(), on_progress=lambda f, msg: run.progress(f, msg),
                                  should_stop=run.should_stop)  # fmt: skip
        run.succeed(body["metrics"], {"result": json.dumps(body).encode(), "plot": plot})
