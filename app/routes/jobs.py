"""The jobs resource: read, list, cancel, and download results, previews and plots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from app.deps import CallerDep, JobIdDep, StoreDep
from app.schemas import Job, JobKind, JobList, JobStatus
from app.store import JobStore
from app.store.errors import TransitionError
from app.store.events import valid_event_id

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}}}


def _own_job(store: StoreDep, owner: str, job_id: str) -> Job:
    job = store.get(job_id, owner=owner)
    if job is None:  # another caller's job reads exactly like an unknown one
        raise HTTPException(404, f"no job {job_id}")
    return job


@router.get("", response_model=JobList)
def list_jobs(store: StoreDep, owner: CallerDep, limit: int = 50) -> JobList:
    """This caller's recent jobs, newest first."""
    return JobList(jobs=store.list_for(owner, limit=max(1, min(limit, 200))))


@router.get("/{job_id}", response_model=Job)
async def read_job(job_id: JobIdDep, store: StoreDep, owner: CallerDep) -> Response:
    """The job record: status, progress, queue position, metrics, error, links."""
    # The hot path of every client's polling loop: on the event loop (asyncio Redis, no thread hop), and
    # serialised once, without a second validation pass.
    job = await store.aget(job_id, owner=owner)
    if job is None:
        raise HTTPException(404, f"no job {job_id}")
    return Response(job.model_dump_json(), media_type="application/json")


EVENTS_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {}},
        "description": "Server-sent events: `status` (data: the record) on each transition, `progress` "
        "(`{progress, message}`), `preview` (`{url}`), and finally `done` (data: the record); then the stream "
        "ends. Each event has an `id:`; send it back as `Last-Event-ID` to resume without a gap or a repeat.",
    }
}
SSE_PING_SECONDS = 15  # a comment line this often keeps proxies from closing a quiet stream


@router.get("/{job_id}/events", response_class=EventSourceResponse, responses=EVENTS_DOC)
async def job_events(
    job_id: JobIdDep,
    store: StoreDep,
    owner: CallerDep,
    last_event_id: Annotated[str | None, Header(description="Resume after this event id")] = None,
) -> EventSourceResponse:
    """Follow the job as a server-sent event stream, from its current state or after `Last-Event-ID`."""
    if last_event_id is not None and not valid_event_id(last_event_id.strip()):
        raise HTTPException(400, f"Last-Event-ID: `{last_event_id[:50]}` is not an event id of this stream")
    if await store.aget(job_id, owner=owner) is None:
        raise HTTPException(404, f"no job {job_id}")
    last = last_event_id.strip() if last_event_id else None
    return EventSourceResponse(_sse(store, job_id, last, owner), ping=SSE_PING_SECONDS)


async def _sse(store: JobStore, job_id: str, last_id: str | None, owner: str) -> AsyncIterator[ServerSentEvent]:
    async for event in store.events.follow(job_id, last_id, owner=owner):
        yield ServerSentEvent(data=event.data, event=event.event, id=event.id)


@router.delete("/{job_id}", response_model=Job)
def cancel_job(job_id: JobIdDep, store: StoreDep, owner: CallerDep) -> Job:
    """Cancel a queued or running job; a running style job stops within one iteration."""
    job = _own_job(store, owner, job_id)
    try:
        return store.cancel(job.id)
    except TransitionError as exc:
        raise HTTPException(409, f"job {job_id} already finished ({job.status.value})") from exc


@router.get("/{job_id}/result", responses={**PNG, 200: {"content": {"image/png": {}, "application/json": {}}}})
def read_result(job_id: JobIdDep, store: StoreDep, owner: CallerDep) -> Response:
    """The result: a PNG for a style job, forecast JSON for a wave job."""
    job = _own_job(store, owner, job_id)
    if job.status is not JobStatus.succeeded:
        raise HTTPException(409, f"job {job_id} is {job.status.value}; no result")
    blob = store.blob(job.id, "result")
    if blob is None:
        raise HTTPException(404, f"the result of job {job_id} has expired")
    media = "image/png" if job.kind is JobKind.style_transfer else "application/json"
    return Response(blob, media_type=media)


@router.get("/{job_id}/tiles/{index}", responses=PNG)
def read_tile(job_id: JobIdDep, index: int, store: StoreDep, owner: CallerDep) -> Response:
    """One tile of a sweep's grid, by its position in `metrics.tiles` (0-based)."""
    job = _own_job(store, owner, job_id)
    if job.status is not JobStatus.succeeded:
        raise HTTPException(409, f"job {job_id} is {job.status.value}; no tiles")
    blob = store.blob(job.id, f"tile{index}") if index >= 0 else None
    if blob is None:
        raise HTTPException(404, f"job {job_id} has no tile {index}")
    return Response(blob, media_type="image/png")


@router.get("/{job_id}/preview", responses={**PNG, 204: {"description": "No preview yet"}})
def read_preview(job_id: JobIdDep, store: StoreDep, owner: CallerDep) -> Response:
    """The latest intermediate image of a style job; 204 until the first one exists."""
    job = _own_job(store, owner, job_id)
    if job.kind is not JobKind.style_transfer:
        raise HTTPException(404, f"job {job_id} is not a style job; it has no preview")
    blob = store.blob(job.id, "preview")
    if blob is None:  # not an error: the first preview comes a few iterations in
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
    return Response(blob, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/{job_id}/plot", responses=PNG)
def read_plot(job_id: JobIdDep, store: StoreDep, owner: CallerDep) -> Response:
    """A PNG of a forecast against its history, and against the truth when it is known."""
    job = _own_job(store, owner, job_id)
    if job.kind is not JobKind.wave_forecast:
        raise HTTPException(404, f"job {job_id} is not a forecast; it has no plot")
    blob = store.blob(job.id, "plot") if job.status is JobStatus.succeeded else None
    if blob is None:
        raise HTTPException(409, f"job {job_id} is {job.status.value}; no plot")
    return Response(blob, media_type="image/png")
