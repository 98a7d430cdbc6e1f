"""Builds the FastAPI app: one router per resource, the web page, and the error handlers."""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from app.csv_body import CSVForecastBody
from app.embedded import die_with_parent
from app.fastpath import PollFastPath
from app.logs import new_error_id
from app.owners import Owners
from app.queue import make_celery, send_job
from app.reaper import start_reaper
from app.routes import docs, health, jobs, style_transfers, wave_forecasts, webhooks
from app.security import BodyLimit, ContentTypeGuard, HttpDefaults
from app.settings import Settings, get_settings
from app.store import JobStore
from app.webhooks import queue_delivery

STATIC_DIR = Path(__file__).parent / "static"
log = logging.getLogger("stylewave.api")

STORE_FULL_RETRY_SECONDS = 60


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """422 naming each bad field. The offending input is not echoed: it may be huge, or NaN (not JSON)."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"loc": list(err.get("loc", ())), "msg": _field_message(err), "type": err.get("type", "value_error")}
        for err in exc.errors()
    ]
    return JSONResponse({"detail": detail}, 422)


def _field_message(err: dict) -> str:
    field = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "header"))
    msg = str(err.get("msg", "invalid"))
    return f"{field}: {msg}" if field else msg


async def redis_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """Redis down is an outage, not a bug: 503 with a clear detail, never a 500; Redis full is a 507."""
    if isinstance(exc, redis.ResponseError) and str(exc).startswith("OOM"):
        log.warning("the job store is full: %s", exc)
        detail = "the job store is full; retry later"
        return JSONResponse({"detail": detail}, 507, {"Retry-After": str(STORE_FULL_RETRY_SECONDS)})
    error_id = new_error_id()
    log.error("the job store failed (error id %s): %s", error_id, exc)
    detail = f"the job store (Redis) is unavailable (error id {error_id}); retry later"
    return JSONResponse({"detail": detail}, 503, {"Retry-After": "5"})


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug: a short answer with an error id; the traceback goes to the log, under that id."""
    error_id = new_error_id()
    log.error("unhandled error (error id %s) on %s %s", error_id, request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": f"internal error (error id {error_id})"}, 500)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Each API process runs a lost-worker reaper (one of them acts at a time: app/reaper.py). A process that
    uvicorn started for `--processes N` dies with uvicorn instead of being left behind."""
    if multiprocessing.parent_process() is not None:
        die_with_parent()
    celery = app.state.celery
    stop = start_reaper(app.state.store, app.state.settings, lambda job: send_job(celery, job))
    yield
    stop.set()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI app: its store and Celery client, the middleware, one router per resource, the web page."""
    settings = settings or get_settings()
    app = FastAPI(
        title="stylewave",
        version="0.1.0",
        summary="Neural style transfer and LSTM wave forecasting, as jobs.",
        lifespan=lifespan,
        docs_url=None,  # app/routes/docs.py serves /docs from installed files; ReDoc would need a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.celery = make_celery(settings, name="stylewave-api")
    app.state.store = JobStore.from_url(
        settings.broker_url, settings.result_ttl_seconds, notify=queue_delivery(app.state.celery)
    )
    app.state.owners = Owners(settings, app.state.store)
    app.add_exception_handler(redis.RedisError, redis_unavailable)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, internal_error)
    app.add_middleware(CSVForecastBody)  # inside the guard: turns a CSV forecast request into its JSON
    app.add_middleware(ContentTypeGuard)
    app.add_middleware(BodyLimit, max_bytes=settings.max_json_bytes, json_only=True)
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)  # the outermost: every body
    for module in (style_transfers, wave_forecasts, jobs, webhooks, health, docs):
        app.include_router(module.router)
    app.mount(docs.ASSETS_URL, StaticFiles(directory=docs.assets_dir()), name="docs-assets")
    app.mount("/", StaticFiles(directory=STATIC_DIR, html=True, check_dir=False), name="web")
    return app


def create_server_app(settings: Settings | None = None) -> HttpDefaults:
    """What uvicorn serves: the Host check and default headers (app/security.py) around the polling fast
    path (app/fastpath.py) around the app, so that every answer, the fast path's too, passes the first."""
    settings = settings or get_settings()
    return HttpDefaults(PollFastPath(create_app(settings)), settings)
