"""Builds the FastAPI app: one router per resource, the web page, and the error handlers."""

from __future__ import annotations

from pathlib import Path

import redis
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.csv_body import CSVForecastBody
from app.fastpath import PollFastPath
from app.queue import make_celery
from app.routes import health, jobs, style_transfers, wave_forecasts, webhooks
from app.settings import Settings, get_settings
from app.store import JobStore
from app.webhooks import queue_delivery

STATIC_DIR = Path(__file__).parent / "static"

# POST endpoints and the body type each accepts; anything else is refused with 415 before parsing.
_BODY_TYPES = {
    "/v1/style-transfers": ("multipart/form-data",),
    "/v1/wave-forecasts": ("application/json", "text/csv", "multipart/form-data"),  # CSV: see app.csv_body
}


class ContentTypeGuard:
    """Answer 415 when a submission's Content-Type is not one its endpoint takes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            expected = _BODY_TYPES.get(scope["path"].rstrip("/"))
            if expected is not None:
                headers = dict(scope["headers"])
                given = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
                if given not in expected:
                    detail = f"Content-Type must be {' or '.join(expected)}, not {given or 'missing'}"
                    await JSONResponse({"detail": detail}, 415)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class _TooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException, so a route that is parsing it answers the same 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_detail(limit))


def too_large_detail(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes"


class BodyLimit:
    """Refuse a request body over `limit` bytes with 413 JSON: from Content-Length, or counted as it streams in.

    (Starlette's own limit answers text/plain; every error of this API is JSON `{"detail": ...}`.)
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, receive, send)
            return
        received, started = 0, False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise _TooLarge(self.limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await JSONResponse({"detail": too_large_detail(self.limit)}, 413, {"Connection": "close"})(scope, receive, send)


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
    """Redis down is an outage, not a bug: 503 with a clear detail, never a 500."""
    return JSONResponse({"detail": f"the job store (Redis) is unavailable: {exc}"}, 503, {"Retry-After": "5"})


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="stylewave",
        version="0.1.0",
        summary="Neural style transfer and LSTM wave forecasting, as jobs.",
    )
    app.state.settings = settings
    app.state.celery = make_celery(settings, name="stylewave-api")
    app.state.store = JobStore.from_url(
        settings.broker_url, settings.result_ttl_seconds, notify=queue_delivery(app.state.celery)
    )
    app.add_exception_handler(redis.RedisError, redis_unavailable)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_middleware(CSVForecastBody)  # inside the guard: turns a CSV forecast request into its JSON
    app.add_middleware(ContentTypeGuard)
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)
    for module in (style_transfers, wave_forecasts, jobs, webhooks, health):
        app.include_router(module.router)
    app.mount("/", StaticFiles(directory=STATIC_DIR, html=True, check_dir=False), name="web")
    return app


def create_server_app() -> PollFastPath:
    """What uvicorn serves: the app behind the polling fast path (app/fastpath.py)."""
    return PollFastPath(create_app())
