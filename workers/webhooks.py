"""The webhook sender: a Celery app of its own (no torch), one task that delivers one signed message.

Run by `webhook_worker_argv` (app/queue.py) on the `webhooks` queue with a thread pool, apart from the job
workers, so that a delivery never waits behind a long job. A delivery fails on a non-2xx answer or none
within 10 s; it is tried again after 5, 15, 45, 135, 405 and 1215 s (the base is
`STYLEWAVE_WEBHOOK_RETRY_BASE_SECONDS`): seven tries, the last about 30 minutes after the first.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from celery import Task, signals

from app.logs import setup_logging
from app.queue import WEBHOOK_TASK, make_celery
from app.schemas import Job, WebhookDelivery
from app.settings import get_settings
from app.store import JobStore
from app.webhooks import UnsafeUrl, deployment_secret, resolve_public, sign

settings = get_settings()
celery = make_celery(settings, name="stylewave-webhooks")
log = logging.getLogger("stylewave.webhooks")

TIMEOUT_SECONDS = 10.0
MAX_TRIES = 7
BACKOFF_FACTOR = 3
_store: JobStore | None = None


def store() -> JobStore:
    global _store
    if _store is None:
        _store = JobStore.from_url(settings.broker_url, settings.result_ttl_seconds)
    return _store


@signals.setup_logging.connect
def _logging(**_: Any) -> None:
    setup_logging()


def retry_delay(tries: int) -> float:
    """Seconds before the next try, after `tries` failed ones: base, 3·base, 9·base, …"""
    return settings.webhook_retry_base_seconds * BACKOFF_FACTOR ** (tries - 1)


def post_pinned(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST to `url` at an address checked just now (no redirects followed); the answer's status code.

    The connection goes to the checked IP, with the URL's host in `Host` (and as the TLS server name), so a
    DNS answer that changes after the check cannot send the request elsewhere.
    """
    address = resolve_public(url, settings.webhook_allow_private)[0]
    parts = urlsplit(url)
    host_ip = f"[{address}]" if ":" in address else address
    netloc = host_ip + (f":{parts.port}" if parts.port else "")
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = parts.netloc.rpartition("@")[2]
    with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as client:
        response = client.post(
            pinned,
            content=body,
            headers={**headers, "Host": host_header},
            extensions={"sni_hostname": parts.hostname or ""},
        )
    return response.status_code


@celery.task(name=WEBHOOK_TASK, bind=True, max_retries=MAX_TRIES - 1, acks_late=True)
def deliver(self: Task, job_id: str, event: str, body: str, msg_id: str) -> None:
    """One try of one message; a failure schedules the next try until MAX_TRIES."""
    tries = int(self.request.retries) + 1
    url = Job.model_validate_json(body).webhook or ""
    timestamp = int(time.time())
    payload = body.encode()
    signature = sign(deployment_secret(settings, store().r), msg_id, timestamp, payload)
    headers = {
        "content-type": "application/json",
        "user-agent": "stylewave-webhooks",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }
    status: int | None = None
    try:
        status = post_pinned(url, payload, headers)
    except UnsafeUrl as exc:
        log.warning("webhook refused: %s", exc, extra={"job_id": job_id})
    except httpx.HTTPError as exc:
        log.info("webhook try %d failed: %s", tries, exc, extra={"job_id": job_id})
    ok = status is not None and 200 <= status < 300
    outcome = WebhookDelivery.model_validate(
        {
            "id": msg_id,
            "event": event,
            "status_code": status,
            "attempts": tries,
            "delivered_at": time.time() if ok else None,
        }
    )
    store().record_webhook(job_id, outcome)
    if not ok and tries < MAX_TRIES:
        raise self.retry(countdown=retry_delay(tries))
