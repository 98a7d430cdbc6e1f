"""POST /v1/wave-forecasts: queue a forecast of generated waves or of an observed series."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, Response
from starlette.concurrency import run_in_threadpool

from app.csv_body import openapi_body
from app.deps import CallerDep, CeleryDep, SettingsDep, StoreDep
from app.routes.submit import WEBHOOK_FIELDS, submit_job
from app.schemas import Job, JobKind, WaveForecastRequest

router = APIRouter(prefix="/v1/wave-forecasts", tags=["wave forecast"])

MAX_WAIT_SECONDS = 60
_PREFER_WAIT = re.compile(r"(?:^|[;,\s])wait\s*=\s*(\d+)", re.IGNORECASE)


def prefer_wait(header: str | None) -> float:
    """Seconds from a `Prefer: wait=N` header (RFC 7240), capped at 60; 0 without one."""
    match = _PREFER_WAIT.search(header or "")
    return min(float(match.group(1)), MAX_WAIT_SECONDS) if match else 0.0


@router.post(
    "",
    response_model=Job,
    status_code=202,
    responses={200: {"description": "Finished in time"}},
    openapi_extra=openapi_body(),  # the CSV forms, which app.csv_body turns into this JSON body
)
async def create_wave_forecast(
    body: WaveForecastRequest,
    settings: SettingsDep,
    store: StoreDep,
    celery: CeleryDep,
    owner: CallerDep,
    response: Response,
    prefer: Annotated[str | None, Header(description="`wait=N` (N <= 60): answer 200 if done in time")] = None,
) -> Job:
    """Queue a wave forecast; with `Prefer: wait=N`, wait up to N seconds for it to finish."""
    # Submitting talks to Redis and the broker with blocking clients: on a thread, briefly. The wait is an
    # await on the job's event stream, so a waiting request holds no thread (40 of them leave /healthz free).
    job = await run_in_threadpool(
        submit_job,
        store=store,
        celery=celery,
        settings=settings,
        response=response,
        kind=JobKind.wave_forecast,
        params=body.model_dump(mode="json", exclude_none=True, exclude=WEBHOOK_FIELDS),
        owner=owner,
        webhook=body,
    )
    wait = prefer_wait(prefer)
    finished = await store.events.wait_finished(job.id, wait) if wait else None
    if finished is not None:
        response.status_code = 200
        response.headers["Preference-Applied"] = "wait"
        return finished
    if wait:  # not finished in time: the record as it is now
        return (await store.aget(job.id)) or job
    return job
