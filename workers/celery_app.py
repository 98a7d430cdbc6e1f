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

settings = get_settings()
celery = make_celery(settings)
celery.conf.include = ["workers.tasks"]

log = logging.getLogger("stylewave.worker")
_store: JobStore | None = None


def store() -> JobStore:
    """One job-store connection per process (created lazily: prefork children must not share a socket)."""
    global _store
    if _store is None:
        _store = JobStore.from_url(settings.broker_url, settings.result_ttl_seconds, notify=queue_delivery(celery))
    return _store


def this_worker() -> WorkerInfo:
    return WorkerInfo(host=socket.gethostname(), pid=os.getpid())


def _beat_forever(stop: threading.Event) -> None:
    me = WorkerInfo(host=socket.gethostname(), pid=os.getpid())
    while not stop.is_set():
        try:
            store().heartbeat(me)
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


@signals.worker_ready.connect
def _start_heartbeat(**_: Any) -> None:
    threading.Thread(target=_beat_forever, args=(_stop_beat,), name="heartbeat", daemon=True).start()


@signals.worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    _stop_beat.set()


@signals.worker_process_init.connect
def _child_init(**_: Any) -> None:
    global _store
    _store = None  # a forked child opens its own connection
