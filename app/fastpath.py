"""The polling hot path, `GET /v1/jobs/{id}`, answered in front of the framework.

Polling clients send most of a busy service's requests, and on a small machine their bursts queue up: the
time goes to FastAPI's routing, dependency solving and middleware layers more than to Redis. This plain
ASGI layer answers exactly `GET /v1/jobs/<32 hex digits>` (without a query string) with the same key check,
bodies and status codes as the route in `app/routes/jobs.py`, which still serves everything else, documents
the endpoint in the OpenAPI schema, and answers any request this layer does not take.

Per poll it costs one Redis `GET` (on a pipelined connection shared by all the polls in flight, see
app/pipelined.py; a queued job's position takes a `ZRANK` more) and, while the stored record has not changed
since the last poll of that job, no parsing or serialising: `RecordViews` keeps the answer for the exact bytes
last read. Nothing is served that was not just read from Redis, so an expired, moved or rewritten record is
seen at once, by every API process.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import redis
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from app.deps import UNAUTHORIZED, owner_of
from app.logs import new_error_id
from app.pipelined import PipelinedRedis
from app.schemas import Job, JobStatus
from app.store import JobStore
from app.store.keys import job_key, queue_key_of, queue_position

log = logging.getLogger("stylewave.api")
_JOB_PATH = re.compile(r"/v1/jobs/([0-9a-f]{32})")


class RecordViews:
    """Each job's record as parsed and as answered, kept for the exact stored bytes it came from.

    A poll reuses them when Redis returns the same bytes again (a job's record changes a few times a second
    at most, while it runs), so most polls skip pydantic. Bounded by `budget` bytes; the oldest go first.
    """

    def __init__(self, budget: int = 8 * 1024 * 1024, largest: int = 256 * 1024) -> None:
        self.budget, self.largest = budget, largest
        self.entries: dict[str, tuple[bytes, Job, bytes]] = {}
        self.size = 0

    def get(self, job_id: str, raw: bytes) -> tuple[Job, bytes]:
        """(the record, its public JSON without a queue position); the Job is shared: never mutate it."""
        entry = self.entries.get(job_id)
        if entry is not None and entry[0] == raw:
            return entry[1], entry[2]
        job = Job.model_validate_json(raw)
        body = job.model_dump_json().encode()
        if entry is not None:
            self._drop(job_id)
        if len(raw) + len(body) <= self.largest:
            self.entries[job_id] = (raw, job, body)
            self.size += len(raw) + len(body)
            while self.size > self.budget:
                self._drop(next(iter(self.entries)))
        return job, body

    def _drop(self, job_id: str) -> None:
        raw, _, body = self.entries.pop(job_id)
        self.size -= len(raw) + len(body)


class PollFastPath:
    """Wraps the whole app (outside even its error and body-limit layers); takes only plain job polls.

    `app.main.create_server_app` puts it inside `app.security.HttpDefaults`: the Host check and the
    default headers cover its answers too.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.state = app.state
        self.store: JobStore = app.state.store
        self.keys = app.state.settings.api_key_set  # a property that parses the setting: read it once
        # One pipelined connection per API process; redis-py's client when that cannot be had (no hiredis, TLS).
        self.redis = PipelinedRedis.from_url(app.state.settings.broker_url)
        self.views = RecordViews()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        plain_get = scope["type"] == "http" and scope["method"] == "GET" and not scope.get("query_string")
        match = _JOB_PATH.fullmatch(scope["path"]) if plain_get else None
        if match is None:
            await self.app(scope, receive, send)
            return
        authorization = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
                break
        job_id = match.group(1)
        try:
            owner = await owner_of(authorization.decode("latin-1"), self.keys, self.state.owners)
            if owner is None:
                await _send(send, 401, {"detail": UNAUTHORIZED}, [(b"www-authenticate", b"Bearer")])
                return
            body = await self._read(job_id, owner)
        except redis.RedisError as exc:  # as app.main.redis_unavailable: the details go to the log only
            error_id = new_error_id()
            log.error("the job store failed (error id %s): %s", error_id, exc)
            detail = {"detail": f"the job store (Redis) is unavailable (error id {error_id}); retry later"}
            await _send(send, 503, detail, [(b"retry-after", b"5")])
            return
        if body is None:
            await _send(send, 404, {"detail": f"no job {job_id}"})
            return
        await _send(send, 200, body)

    async def _read(self, job_id: str, owner: str) -> bytes | None:
        """The record's public JSON, as `JobStore.aget` + `model_dump_json`; None: unknown, or another's."""
        raw = await self._execute("GET", job_key(job_id))
        if raw is None:
            return None
        job, body = self.views.get(job_id, raw)
        if job.owner != owner:
            return None
        if job.status is not JobStatus.queued:
            return body
        rank = await self._execute("ZRANK", queue_key_of(job), job.id)
        position = queue_position(rank)
        return job.model_copy(update={"queue_position": position}).model_dump_json().encode()

    async def _execute(self, *args: str) -> Any:
        if self.redis is not None:
            return await self.redis.execute(*args)
        return await self.store.ar.execute_command(*args)


async def _send(send: Send, status: int, body: dict | bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": payload})
