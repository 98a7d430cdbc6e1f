"""The Celery configuration shared by the API (which only sends tasks, by name) and the workers."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from celery import Celery

from app.schemas import Job, JobKind
from app.settings import Settings

STYLE_TASK = "stylewave.style_transfer"
FORECAST_TASK = "stylewave.wave_forecast"
WEBHOOK_TASK = "stylewave.webhook"
TASK_QUEUES = {STYLE_TASK: "style", FORECAST_TASK: "forecast", WEBHOOK_TASK: "webhooks"}
TASK_OF_KIND = {JobKind.style_transfer: STYLE_TASK, JobKind.wave_forecast: FORECAST_TASK}


def send_job(celery: Celery, job: Job) -> None:
    """Send a queued job's task by name, with its delivery number (a requeue sends a newer one)."""
    task = TASK_OF_KIND[job.kind]
    celery.send_task(task, args=[job.id, job.params], kwargs={"delivery": job.delivery}, queue=TASK_QUEUES[task])


def kombu_url(url: str) -> str:
    """The broker URL in kombu's spelling: redis-py's Unix socket `unix:///path?db=N` is kombu's
    `redis+socket:///path?virtual_host=N`; any other URL is the same for both."""
    parts = urlsplit(url)
    if parts.scheme != "unix":
        return url
    query = dict(parse_qsl(parts.query))
    query["virtual_host"] = query.pop("db", "0")
    return f"redis+socket://{parts.netloc}{parts.path}?{urlencode(query)}"


def celery_config(settings: Settings) -> dict[str, Any]:
    """Reliability settings from DESIGN.md: late acks, requeue on a lost worker, prefetch 1, JSON only."""
    transport = {"visibility_timeout": settings.visibility_timeout}
    return {
        "broker_url": kombu_url(settings.broker_url),
        # The job store holds results; Celery's own result backend is not used.
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # The visibility timeout must exceed the longest job, or Redis redelivers a running job to a
        # second worker; Celery reads it from both transport-option settings.
        "broker_transport_options": transport,
        "result_backend_transport_options": transport,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_routes": {name: {"queue": queue} for name, queue in TASK_QUEUES.items()},
        "task_soft_time_limit": settings.job_time_limit_seconds,
        "task_time_limit": settings.job_time_limit_seconds + 60,
        "broker_connection_retry_on_startup": True,
        # A publish against a Redis that is down must fail fast (the API answers 503), not hang.
        "task_publish_retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
        "broker_connection_timeout": 3,
        # On SIGTERM, give a running job a few seconds, then stop it and give its message back to the
        # queue (a cold shutdown requeues late-ack tasks), so a restart runs it at once instead of
        # after the visibility timeout.
        "worker_soft_shutdown_timeout": 5.0,
        "worker_enable_soft_shutdown_on_idle": True,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
    }


def make_celery(settings: Settings, name: str = "stylewave") -> Celery:
    celery = Celery(name)
    celery.conf.update(celery_config(settings))
    return celery


def webhook_worker_argv(python: str, name: str = "webhooks@%h", concurrency: int = 8) -> list[str]:
    """The webhook sender: its own Celery worker on the `webhooks` queue, threads (the work is waiting on
    the network), and an app that never imports torch. Apart from the job workers, so that a delivery never
    waits behind a long job."""
    return [
        python,
        "-m",
        "celery",
        "-A",
        "workers.webhooks:celery",
        "worker",
        "-Q",
        TASK_QUEUES[WEBHOOK_TASK],
        "--pool",
        "threads",
        "-c",
        str(concurrency),
        "-n",
        name,
        "-l",
        "INFO",
        "--without-gossip",
        "--without-mingle",
    ]
