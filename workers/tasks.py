"""The Celery tasks: fetch the job's inputs, check them, run its job body (`workers/jobs.py`), store the outputs.

Every message is checked again here with the API's own check (`app/validation.py`): the schema, this
deployment's limits and the image headers. A message the API would have refused (forged, or from an older
version) ends its job `failed` with `invalid_params`; any other failure once the message is taken is sorted
by `workers/runner.py` (`model_error`, `time_limit`, `internal_error`...), so no job is left running.
"""

from __future__ import annotations

from typing import Any

from app.queue import FORECAST_TASK, STYLE_TASK
from app.validation import InvalidParams, validate_forecast_request, validate_style_request
from workers import celery_app
from workers.celery_app import celery, settings, store, this_worker
from workers.jobs import forecast_job, style_job
from workers.memory import job_budget
from workers.runner import job_run


@celery.task(name=STYLE_TASK)
def style_transfer(job_id: str, params: dict[str, Any], delivery: int = 0) -> None:
    """Run one style-transfer job (any mode, or a sweep) and store the PNG."""
    with job_run(store(), settings, job_id, this_worker(), delivery) as run:
        if run is None:
            return
        names = store().input_names(job_id)
        content = _input(job_id, "content") if "content" in names else None
        styles = [_input(job_id, n) for n in names if n.startswith("style")]
        request = validate_style_request(params, settings, content, styles)
        budget = job_budget(settings.worker_memory_mb, celery_app.job_processes, settings.device)
        out = style_job(
            request,
            content,
            styles,
            device=settings.device,
            weights_path=settings.vgg_weights,
            listener=run,
            memory_bytes=budget,
        )
        run.succeed(out.metrics, out.outputs)


@celery.task(name=FORECAST_TASK)
def wave_forecast(job_id: str, params: dict[str, Any], delivery: int = 0) -> None:
    """Run one forecast job and store its JSON result and plot."""
    with job_run(store(), settings, job_id, this_worker(), delivery) as run:
        if run is None:
            return
        request = validate_forecast_request(params, settings)
        out = forecast_job(request, cache=store().model_cache(run.job.owner), listener=run)
        run.succeed(out.metrics, out.outputs)


def _input(job_id: str, name: str) -> bytes:
    blob = store().input(job_id, name)
    if blob is None:
        raise InvalidParams(name.rstrip("0123456789"), "the input image is gone from the store (expired?)")
    return blob
