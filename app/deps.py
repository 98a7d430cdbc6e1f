"""FastAPI dependencies, as Annotated aliases: settings, the job store, the task sender and the caller.

They are `async def` (their only I/O, at the first use of an API key in a process, is awaited): FastAPI then
calls them on the event loop instead of sending each one through the thread pool, which is most of the cost
of a cheap request such as polling a job.
"""

from __future__ import annotations

from typing import Annotated

from celery import Celery
from fastapi import Depends, HTTPException, Request

from app.owners import Owners
from app.settings import Settings
from app.store import JobStore
from app.store.keys import is_job_id


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_store(request: Request) -> JobStore:
    return request.app.state.store  # type: ignore[no-any-return]


async def get_celery(request: Request) -> Celery:
    return request.app.state.celery  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StoreDep = Annotated[JobStore, Depends(get_store)]
CeleryDep = Annotated[Celery, Depends(get_celery)]


UNAUTHORIZED = "missing or unknown API key: send `Authorization: Bearer <key>`"


async def owner_of(authorization: str, keys: frozenset[str], owners: Owners) -> str | None:
    """The owner id for an Authorization header: its key's HMAC id, `public` on an open service, else None."""
    if not keys:
        return "public"
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or token not in keys:
        return None
    return await owners.id_of(token)


async def get_caller(request: Request, settings: SettingsDep) -> str:
    """The owner id of this request (`owner_of`); 401 without a known key."""
    owner = await owner_of(request.headers.get("authorization", ""), settings.api_key_set, request.app.state.owners)
    if owner is None:
        raise HTTPException(401, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})
    return owner


CallerDep = Annotated[str, Depends(get_caller)]


async def get_job_id(job_id: str) -> str:
    """The `{job_id}` of a path, when it has the shape of a job id (32 hex digits); 404 otherwise.

    Checked before any Redis key is built from it, so `GET /v1/jobs/<id>:result` is an unknown job.
    """
    if not is_job_id(job_id):
        raise HTTPException(404, f"no job {job_id[:64]}")
    return job_id


JobIdDep = Annotated[str, Depends(get_job_id)]
