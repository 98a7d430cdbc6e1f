"""FastAPI dependencies, as Annotated aliases: settings, the job store, the task sender and the caller.

They do no I/O, so they are `async def`: FastAPI then calls them on the event loop instead of sending each
one through the thread pool, which is most of the cost of a cheap request such as polling a job.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from celery import Celery
from fastapi import Depends, HTTPException, Request

from app.settings import Settings
from app.store import JobStore


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_store(request: Request) -> JobStore:
    return request.app.state.store  # type: ignore[no-any-return]


async def get_celery(request: Request) -> Celery:
    return request.app.state.celery  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StoreDep = Annotated[JobStore, Depends(get_store)]
CeleryDep = Annotated[Celery, Depends(get_celery)]


async def get_caller(request: Request, settings: SettingsDep) -> str:
    """The owner id of this request: a hash of its API key, or `public` when the service is open."""
    keys = settings.api_key_set
    if not keys:
        return "public"
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or token.strip() not in keys:
        raise HTTPException(
            401,
            "missing or unknown API key: send `Authorization: Bearer <key>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return hashlib.sha256(token.strip().encode()).hexdigest()[:32]


CallerDep = Annotated[str, Depends(get_caller)]
