"""A job's event stream (`sw:job:{id}:events`, a capped Redis Stream): written with each record change, read
by the API's `GET /v1/jobs/{id}/events` and by `Prefer: wait`.

Each entry has `event` (`status`, `progress`, `preview` or `done`) and `data` (JSON); the creation event also
has `first`, so that a reader can tell a trimmed stream from a whole one. The writes (`emit`, `emit_change`)
go on the job store's transaction, so the stream misses no change; the reads (`EventStream`) block on the
asyncio client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import redis.asyncio

from app.schemas import Job, JobStatus
from app.store.keys import is_job_id, job_key, load_record, queue_key_of, queue_position

# A job's event stream is capped (XADD MAXLEN ~): progress comes at most twice a second, so this holds well
# over ten minutes of it; a client resuming from an id trimmed away gets a fresh `status` event instead.
EVENTS_MAXLEN = 2000
# How long one XREAD blocks before the follower checks that the job still exists.
FOLLOW_BLOCK_MS = 10_000


@dataclass(frozen=True)
class JobEvent:
    """One event of a job's stream: `status`, `progress`, `preview` or `done`, with its JSON data."""

    id: str  # the Redis Stream entry id ("<ms>-<seq>"), also the SSE `id:`
    event: str
    data: str

    @property
    def is_final(self) -> bool:
        return self.event == "done"


def emit(pipe: Any, job_id: str, event: str, data: str, first: bool = False) -> None:
    """Queue one event on `pipe` (the creation event is marked `first`)."""
    fields = {"event": event, "data": data, **({"first": "1"} if first else {})}
    pipe.xadd(job_key(job_id, "events"), fields, maxlen=EVENTS_MAXLEN, approximate=True)


def emit_change(pipe: Any, job: Job, event: str, ttl: int) -> None:
    """The events of one record change; a finished job's stream gets `done` and the record's TTL."""
    if event == "progress":
        emit(pipe, job.id, "progress", json.dumps({"progress": job.progress, "message": job.message}))
        return
    record = job.model_dump_json()
    emit(pipe, job.id, "status", record)
    if job.status.is_terminal:
        emit(pipe, job.id, "done", record)
        pipe.expire(job_key(job.id, "events"), ttl)


class EventStream:
    """Follows jobs' event streams; the job store's `events`."""

    def __init__(self, aclient: redis.asyncio.Redis | None, ablocking: redis.asyncio.Redis | None) -> None:
        # Typed Any: redis-py annotates every reply as a sync/async union; these clients always read bytes.
        self.ar: Any = aclient
        self.ablock: Any = ablocking or aclient  # for blocking reads, with a socket timeout over FOLLOW_BLOCK_MS

    async def follow(
        self, job_id: str, last_id: str | None = None, owner: str | None = None
    ) -> AsyncIterator[JobEvent]:
        """A job's events, as the API's event stream sends them, until `done` (or the job expires).

        Without `last_id` it starts with a `status` event holding the current record (`done` at once for a
        finished job); with one, it replays every event after that id, then follows. Nothing is yielded for
        an unknown job, or another owner's. Blocking reads are XREAD on the asyncio client: no thread per
        follower, and a follower that is cancelled (its client went away) leaves no read behind.
        """
        snapshot = await self._snapshot(job_id, owner) if is_job_id(job_id) else None
        if snapshot is None:
            return
        job, latest, first = snapshot
        if last_id is None or _gap(first, last_id):
            yield JobEvent(latest, "done" if job.status.is_terminal else "status", job.model_dump_json())
            if job.status.is_terminal:
                return
            last_id = latest
        elif job.status.is_terminal:  # the stream is complete: replay what follows `last_id`, then stop
            entries = await self.ar.xrange(job_key(job_id, "events"), min=f"({last_id}")
            for entry_id, fields in entries:
                yield JobEvent(entry_id.decode(), fields[b"event"].decode(), fields[b"data"].decode())
            return
        async for event in self._tail(job_id, last_id):
            yield event

    async def wait_finished(self, job_id: str, timeout: float) -> Job | None:
        """The finished record once the job's stream says `done`, or None after `timeout` seconds.

        An await on `follow` (blocking XREAD on the asyncio client): a waiting request holds no thread.
        """
        try:
            async with asyncio.timeout(timeout):
                async for event in self.follow(job_id):
                    if event.is_final:
                        return Job.model_validate_json(event.data)
        except TimeoutError:
            pass
        return None

    async def _snapshot(self, job_id: str, owner: str | None) -> tuple[Job, str, tuple[str, bool] | None] | None:
        """(record, id of the newest event, (id of the oldest event, whether it is the creation)), read at once."""
        events = job_key(job_id, "events")
        async with self.ar.pipeline(transaction=True) as pipe:
            pipe.get(job_key(job_id))
            pipe.xrevrange(events, count=1)
            pipe.xrange(events, count=1)
            raw, newest, oldest = await pipe.execute()
        job = load_record(raw, owner)
        if job is None:
            return None
        if job.status is JobStatus.queued:
            job.queue_position = queue_position(await self.ar.zrank(queue_key_of(job), job.id))
        latest = newest[0][0].decode() if newest else "0-0"
        first = None
        if oldest:
            entry_id, fields = oldest[0]
            first = (entry_id.decode(), b"first" in fields)
        return job, latest, first

    async def _tail(self, job_id: str, last_id: str) -> AsyncIterator[JobEvent]:
        """The events after `last_id`, as they come, until `done`, or until the job has expired."""
        events = job_key(job_id, "events")
        while True:
            reply = await self.ablock.xread({events: last_id}, count=100, block=FOLLOW_BLOCK_MS)
            if not reply:
                if not await self.ar.exists(job_key(job_id)):
                    return
                continue
            for entry_id, fields in reply[0][1]:
                last_id = entry_id.decode()
                event = JobEvent(last_id, fields[b"event"].decode(), fields[b"data"].decode())
                yield event
                if event.is_final:
                    return


def _stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


def _gap(first: tuple[str, bool] | None, last_id: str) -> bool:
    """True when events after `last_id` were trimmed from the stream (its oldest is not the creation event)."""
    if first is None:
        return False
    first_id, is_creation = first
    return not is_creation and _stream_id(first_id) > _stream_id(last_id)


def valid_event_id(value: str) -> bool:
    """Whether `value` has the shape of a stream id, as a `Last-Event-ID` must."""
    ms, sep, seq = value.partition("-")
    return ms.isdigit() and (not sep or seq.isdigit()) and len(value) <= 41
