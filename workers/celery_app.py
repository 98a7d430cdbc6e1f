"""The worker's Celery app: the shared configuration plus the task modules, a heartbeat and a reaper thread.

The Celery parent process beats (`sw:workers`) under WORKER_ID, and the pool processes it forks stamp the
same id on the jobs they run, so that the reaper (app/reaper.py) can tell a job whose whole worker is gone.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from typing import Any

from celery import signals

from app.embedded import die_with_parent
from app.logs import setup_logging
from app.queue import make_celery, send_job
from app.reaper import start_reaper
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
# Host, the Celery parent's pid, and a random part: a container restarted under the same host name gets the
# same pids again. Set on import, in the parent, so that the pool processes inherit it.
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"

job_processes = 1  # jobs this worker runs at once (its pool size), which share its memory


def device() -> str:
    """The device the style jobs run on: the setting, with `auto` resolved."""
    from models.nst import resolve_device

    return resolve_device(settings.device)


def store() -> JobStore:
    """One job-store connection per process (created lazily: prefork children must not share a socket)."""
    global _store
    if _store is None:
        _store = JobStore.from_url(
            settings.broker_url, settings.result_ttl_seconds, notify=queue_delivery(celery), patient=True
        )
    return _store


def this_worker() -> WorkerInfo:
    return WorkerInfo(host=socket.gethostname(), pid=os.getpid(), heartbeat=WORKER_ID)


def _beat_forever(stop: threading.Event, capacity: dict[str, int]) -> None:
    while not stop.is_set():
        try:
            store().workers.heartbeat(WORKER_ID, capacity)
        except Exception:  # Redis down for a moment: keep beating when it is back
            log.warning("heartbeat failed", exc_info=True)
        stop.wait(settings.worker_heartbeat_seconds)
    try:
        store().workers.forget(WORKER_ID)
    except Exception:
        pass


_stop_beat = threading.Event()
_stop_reaper: threading.Event | None = None


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
    global _stop_reaper
    capacity = memory.capacity(settings.worker_memory_mb, job_processes, device(), settings.max_size)
    log.info("worker plans style jobs within %d MB: up to %d px", capacity["memory_mb"], capacity["max_size"])
    threading.Thread(target=_beat_forever, args=(_stop_beat, capacity), name="heartbeat", daemon=True).start()
    _stop_reaper = start_reaper(store(), settings, lambda job: send_job(celery, job))


@signals.worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    _stop_beat.set()
    if _stop_reaper is not None:
        _stop_reaper.set()


@signals.worker_process_init.connect
def _child_init(**_: Any) -> None:
    global _store
    _store = None  # a forked child opens its own connection
    die_with_parent()  # a pool process is useless without its parent: never left running alone
