"""The worker's Celery app: the shared configuration plus the task modules and a heartbeat thread."""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from celery import signals

from app.logs import setup_logging
from app.queue import make_celery
from app.schemas import WorkerInfo
from app.settings import get_settings
from app.store import JobStore
from app.webhooks import queue_delivery
from workers import memory

settings = get_settings()
celery = make_celery(settings)
celery.conf.include = ["workers.tasks"]

log = logging.getLogger("stylewave.worker")
_store: JobStore | None = None
job_processes = 1  # jobs this worker runs at once (its pool size), which share its memory


def device() -> str:
    """The device the style jobs run on: the setting, with `auto` resolved."""
    from models.nst import resolve_device

    return resolve_device(settings.device)


def store() -> JobStore:
    """One job-store connection per process (created lazily: prefork children must not share a socket)."""
    global _store
    if _store is None:
        _store = JobStore.from_url(settings.broker_url, settings.result_ttl_seconds, notify=queue_delivery(celery))
    return _store


def this_worker() -> WorkerInfo:
    return WorkerInfo(host=socket.gethostname(), pid=os.getpid())


def _beat_forever(stop: threading.Event, capacity: dict[str, int]) -> None:
    me = WorkerInfo(host=socket.gethostname(), pid=os.getpid())
    while not stop.is_set():
        try:
            store().heartbeat(me, capacity)
        except Exception:  # Redis down for a moment: keep beating when it is back
            log.warning("heartbeat failed", exc_info=True)
        stop.wait(settings.worker_heartbeat_seconds)
    try:
        store().forget_worker(me)
    except Exception:
        pass


_stop_beat = threading.Event()


@signals.setup_logging.connect
def _logging(**_: Any) -> None:
    setup_logging()


@signals.celeryd_init.connect
def _explain_root(**_: Any) -> None:
    """Say, just before Celery's own SecurityWarning about running as root, why it warns and what to do."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        setup_logging()  # Celery sets its logging up later; this line must be JSON like the rest
        log.warning(ROOT_NOTE)


ROOT_NOTE = (
    "this worker runs as root, so Celery's SecurityWarning follows: it fears pickled task messages, which "
    "could run code as root, but this worker accepts JSON messages only (accept_content=['json']) from the "
    "service's own Redis. Better still, run it as an ordinary user, as the Docker image does (see the README)"
)


@signals.worker_init.connect
def _job_processes(sender: Any = None, **_: Any) -> None:
    global job_processes
    job_processes = int(getattr(sender, "concurrency", 1) or 1)  # before the pool forks: children inherit it
    from models.runtime import preload

    preload()  # likewise: no job process pays torch's lazy imports on its first job


@signals.worker_ready.connect
def _start_heartbeat(**_: Any) -> None:
    capacity = memory.capacity(settings.worker_memory_mb, job_processes, device(), settings.max_size)
    log.info("worker plans style jobs within %d MB: up to %d px", capacity["memory_mb"], capacity["max_size"])
    threading.Thread(target=_beat_forever, args=(_stop_beat, capacity), name="heartbeat", daemon=True).start()


@signals.worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    _stop_beat.set()


@signals.worker_process_init.connect
def _child_init(**_: Any) -> None:
    global _store
    _store = None  # a forked child opens its own connection
