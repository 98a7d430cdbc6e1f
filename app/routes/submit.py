"""What every submission does after validation: backpressure, create the record, enqueue by task name."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from fastapi import HTTPException, Response

from app.queue import send_job
from app.schemas import Job, JobKind, WebhookFields
from app.settings import Settings
from app.store import JobStore
from app.store.errors import QueueFull
from app.webhooks import UnsafeUrl, resolve_public

log = logging.getLogger("stylewave.api")
WEBHOOK_FIELDS = set(WebhookFields.model_fields)


def check_webhook(fields: WebhookFields | None, settings: Settings) -> None:
    """422 for a webhook URL that is not http(s) or resolves to a non-public address (unless allowed)."""
    if fields is None or fields.webhook is None:
        return
    try:
        resolve_public(fields.webhook, settings.webhook_allow_private)
    except UnsafeUrl as exc:
        detail = [{"loc": ["body", "webhook"], "msg": f"webhook: {exc}", "type": "value_error"}]
        raise HTTPException(422, detail) from exc


def queue_limits(settings: Settings) -> tuple[int, int]:
    """(jobs waiting in all, jobs waiting for one key): the key's share defaults to half the queue."""
    per_key = settings.max_queued_per_key or max(1, settings.max_queued // 2)
    return settings.max_queued, per_key


def check_store_room(store: JobStore, settings: Settings, incoming: int) -> None:
    """507 with Retry-After when Redis is above its high-water mark: refuse new work before Redis refuses writes.

    Redis runs with `maxmemory` and `noeviction` (it must never drop a queued job to make room), so it
    refuses writes when full; the mark leaves room below that for the jobs already accepted to finish.
    """
    used, limit = store.memory()
    if limit and used + incoming > settings.store_high_water * limit:
        log.warning("submission refused: the job store holds %d of %d bytes", used, limit)
        raise HTTPException(507, "the job store is nearly full; retry later", headers={"Retry-After": "60"})


def submit_job(
    *,
    store: JobStore,
    celery: Celery,
    settings: Settings,
    response: Response,
    kind: JobKind,
    params: dict[str, Any],
    owner: str,
    inputs: dict[str, bytes] | None = None,
    webhook: WebhookFields | None = None,
) -> Job:
    """Create a queued job and send its task; 429 when the queue (or this key's share) is full, 507 when the
    store is nearly full; nothing is enqueued then."""
    check_webhook(webhook, settings)
    check_store_room(store, settings, sum(len(b) for b in (inputs or {}).values()))
    hooks = webhook.webhook_fields() if webhook else None
    try:
        job = store.create(kind, params, owner, inputs, webhook=hooks, limits=queue_limits(settings))
    except QueueFull as exc:
        raise HTTPException(429, f"{exc}; retry later", headers={"Retry-After": "10"}) from exc
    try:
        send_job(celery, job)
    except Exception as exc:  # broker unreachable after the record was written: don't leave it queued forever
        log.exception("enqueue failed", extra={"job_id": job.id})
        store.fail(job.id, "enqueue_failed", "the job could not be queued; submit it again")
        raise HTTPException(503, "the job queue is unavailable; retry later") from exc
    log.info("job queued", extra={"job_id": job.id, "kind": kind.value})
    response.status_code = 202
    response.headers["Location"] = job.links["self"]
    return store.get(job.id) or job
