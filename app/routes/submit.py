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
    """Create a queued job and send its task; 429 when the queue is full, nothing enqueued then."""
    check_webhook(webhook, settings)
    queued = store.queued_count()
    if queued >= settings.max_queued:
        raise HTTPException(
            429,
            f"the queue is full ({queued} jobs waiting, limit {settings.max_queued}); retry later",
            headers={"Retry-After": "10"},
        )
    job = store.create(kind, params, owner, inputs, webhook=webhook.webhook_fields() if webhook else None)
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
