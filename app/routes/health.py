"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging

import redis
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from app.deps import SettingsDep, StoreDep, get_caller
from app.logs import new_error_id
from app.metrics import StoreCollector

router = APIRouter(tags=["health"])
log = logging.getLogger("stylewave.api")


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the API process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(store: StoreDep, settings: SettingsDep) -> JSONResponse:
    """Readiness: Redis answers and at least one worker has a recent heartbeat."""
    try:
        store.ping()
        workers = store.workers.live(settings.worker_lost_seconds)
    except redis.RedisError as exc:  # /readyz answers any caller: the details (addresses) go to the log only
        error_id = new_error_id()
        log.error("readiness: the job store failed (error id %s): %s", error_id, exc)
        detail = f"the job store (Redis) is unavailable (error id {error_id})"
        return JSONResponse({"ready": False, "redis": False, "workers": 0, "detail": detail}, 503)
    ready = bool(workers)
    body: dict[str, object] = {"ready": ready, "redis": True, "workers": len(workers)}
    if not ready:
        body["detail"] = "no worker is alive"
    return JSONResponse(body, 200 if ready else 503)


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
