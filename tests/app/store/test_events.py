"""A job's event stream against a real redis-server: every change is an event, resumes, trimmed streams."""

from __future__ import annotations

import asyncio
import json

from app.schemas import JobKind, WorkerInfo
from app.store import JobStore
from app.store.events import JobEvent

ME = WorkerInfo(host="test", pid=1)


def _collect(store: JobStore, job_id: str, last_id: str | None = None, n: int | None = None) -> list[JobEvent]:
    """The events `follow` yields (the first `n`), on a loop of their own."""

    async def collect() -> list[JobEvent]:
        out: list[JobEvent] = []
        try:
            async for event in store.events.follow(job_id, last_id):
                out.append(event)
                if len(out) == n:
                    break
        finally:  # the asyncio connections belong to this loop: drop them with it
            await store.events.ar.connection_pool.disconnect()
            await store.events.ablock.connection_pool.disconnect()
        return out

    return asyncio.run(collect())


def test_every_change_is_an_event_and_the_stream_expires_with_the_job(store: JobStore) -> None:
    job = store.create(JobKind.style_transfer, {}, "alice")
    store.start(job.id, ME)
    store.progress(job.id, 0.5, "half")
    store.put_blob(job.id, "preview", b"png")
    store.succeed(job.id, {}, {"result": b"png"})
    events = _collect(store, job.id, "0")
    assert [e.event for e in events] == ["status", "status", "progress", "preview", "status", "done"]
    assert [json.loads(e.data).get("status") for e in events if e.event == "status"] == [
        "queued",
        "running",
        "succeeded",
    ]
    assert json.loads(events[2].data) == {"progress": 0.5, "message": "half"}
    assert 0 < store.r.ttl(f"sw:job:{job.id}:events") <= 60
    # Without an id: the current record, as `done` for a finished job, and nothing else.
    assert [e.event for e in _collect(store, job.id)] == ["done"]
    # After the last id: nothing more.
    assert _collect(store, job.id, events[-1].id) == []


def test_a_resume_from_a_trimmed_id_starts_again_from_the_record(store: JobStore) -> None:
    job = store.create(JobKind.style_transfer, {}, "alice")
    store.start(job.id, ME)
    first = _collect(store, job.id, n=1)[0]
    store.r.xtrim(f"sw:job:{job.id}:events", maxlen=0)  # as the cap would after many events
    store.progress(job.id, 0.2, "a")
    store.cancel(job.id)
    events = _collect(store, job.id, first.id)
    # The events after `first` that were trimmed cannot be replayed: the current record comes instead.
    assert [e.event for e in events] == ["done"] and json.loads(events[0].data)["status"] == "canceled"
