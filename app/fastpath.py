"""The polling hot path, `GET /v1/jobs/{id}`, answered in front of the framework.

Polling clients send most of a busy service's requests, and on a small machine their bursts queue up: the
time goes to FastAPI's routing, dependency solving and middleware layers more than to Redis. This plain
ASGI layer answers exactly `GET /v1/jobs/<32 hex digits>` (without a query string) with the same key check,
bodies and status codes as the route in `app/routes/jobs.py`, which still serves everything else, documents
the endpoint in the OpenAPI schema, and answers any request this layer does not take.
"""

from __future__ import annotations

import json
import logging
import re

import redis
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from app.deps import UNAUTHORIZED, owner_of
from app.logs import new_error_id

log = logging.getLogger("stylewave.api")
_JOB_PATH = re.compile(r"/v1/jobs/([0-9a-f]{32})")


class PollFastPath:
    """Wraps the whole app (outside even its error and body-limit layers); takes only plain job polls.

    `app.main.create_server_app` puts it inside `app.security.HttpDefaults`: the Host check and the
    default headers cover its answers too.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.state = app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        plain_get = scope["type"] == "http" and scope["method"] == "GET" and not scope.get("query_string")
        match = _JOB_PATH.fullmatch(scope["path"]) if plain_get else None
        if match is None:
            await self.app(scope, receive, send)
            return
        state = self.state
        headers = dict(scope["headers"])
        try:
            authorization = headers.get(b"authorization", b"").decode("latin-1")
            owner = await owner_of(authorization, state.settings.api_key_set, state.owners)
            if owner is None:
                await _send(send, 401, {"detail": UNAUTHORIZED}, [(b"www-authenticate", b"Bearer")])
                return
            job = await state.store.aget(match.group(1), owner=owner)
        except redis.RedisError as exc:  # as app.main.redis_unavailable: the details go to the log only
            error_id = new_error_id()
            log.error("the job store failed (error id %s): %s", error_id, exc)
            detail = {"detail": f"the job store (Redis) is unavailable (error id {error_id}); retry later"}
            await _send(send, 503, detail, [(b"retry-after", b"5")])
            return
        if job is None:
            await _send(send, 404, {"detail": f"no job {match.group(1)}"})
            return
        await _send(send, 200, job.model_dump_json().encode())


async def _send(send: Send, status: int, body: dict | bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": payload})
