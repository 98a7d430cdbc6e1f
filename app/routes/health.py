"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging

import redis
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel

from app.deps import SettingsDep, StoreDep, get_caller
from app.logs import new_error_id
from app.metrics import StoreCollector

router = APIRouter(tags=["health"])
log = logging.getLogger("stylewave.api")


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    redis: bool
    workers: int  # workers with a recent heartbeat
    detail: str | None = None  # why not ready; absent when ready


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: the API process answers."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness, "description": "Not ready"}})
def readyz(store: StoreDep, settings: SettingsDep) -> JSONResponse:
    """Readiness: Redis answers and at least one worker has a recent heartbeat."""
    try:
        store.ping()
        workers = store.workers.live(settings.worker_lost_seconds)
    except redis.RedisError as exc:  # /readyz answers any caller: the details (addresses) go to the log only
        error_id = new_error_id()
        log.error("readiness: the job store failed (error id %s): %s", error_id, exc)
        detail = f"the job store (Redis) is unavailable (error id {error_id})"
        return _readiness(Readiness(ready=False, redis=False, workers=0, detail=detail))
    idle = None if workers else "no worker is alive"
    return _readiness(Readiness(ready=bool(workers), redis=True, workers=len(workers), detail=idle))


def _readiness(body: Readiness) -> JSONResponse:
    """200 when ready, else 503; no `detail` key when ready."""
    return JSONResponse(body.model_dump(exclude_none=True), 200 if body.ready else 503)


async def metrics_access(request: Request, settings: SettingsDep) -> None:
    """With API keys set, /metrics needs one too (401), unless STYLEWAVE_METRICS_PUBLIC=1."""
    if settings.api_key_set and not settings.metrics_public:
        await get_caller(request, settings)


@router.get("/metrics", dependencies=[Depends(metrics_access)])
def metrics(store: StoreDep) -> Response:
    """Prometheus metrics (with API keys set: send one as a bearer token, or set STYLEWAVE_METRICS_PUBLIC=1)."""
    registry = CollectorRegistry()
    registry.register(StoreCollector(store))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
