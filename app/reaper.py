"""The lost-worker reaper: a running job whose run fell silent is requeued, or failed after too many tries.

A worker machine that is lost whole (a killed container, an OOM kill of the Celery parent, a lost node) never
acknowledges its message, and Redis would hand the message back only after the visibility timeout (hours).
Instead, the process that runs a job renews the job's lease (`sw:lease:run:{id}`) every heartbeat, and each
worker's Celery parent beats into `sw:workers` under the id stamped on its jobs (`job.worker.heartbeat`). A
running job whose lease has lapsed, or whose worker has not beaten for `worker_lost_seconds`, is requeued with a
new delivery number, so that the broker's own late redelivery of the old message is refused by
`JobStore.start` and never runs twice.

Every API process and every worker runs a reaper thread, and a lease in Redis (`SET NX PX`, renewed by its
holder) lets one of them act at a time. The bound, from a run's last renewal to its job's requeue, is the
run lease (3 heartbeats) + `reaper_interval_seconds`, plus the reaper lease's time to live
(3 x `reaper_interval_seconds`) when the lost machine held it: 15 + 5 + 15 = 35 s with the defaults. A
requeued job starts as soon as a worker is free.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable

import redis

from app.schemas import Job, JobStatus
from app.settings import Settings
from app.store import JobStore
from app.store.errors import TransitionError

log = logging.getLogger("stylewave.reaper")

# Sends a requeued job's task message (app/queue.py: `send_job`, as the API does on submission).
Sender = Callable[[Job], None]


class Reaper:
    """One process's reaper; `tick` is one pass, `run` loops until `stop` is set."""

    def __init__(self, store: JobStore, settings: Settings, send: Sender) -> None:
        self.store, self.settings, self.send = store, settings, send
        self.me = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.lease_ms = int(3 * settings.reaper_interval_seconds * 1000)
        self._last_error = float("-inf")  # monotonic time of this process's last Redis error

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.settings.reaper_interval_seconds):
            try:
                self.tick()
            except redis.RedisError as exc:
                self._last_error = time.monotonic()
                log.warning("reaper: Redis unavailable (%s)", exc)
            except Exception:
                log.exception("reaper pass failed")

    def tick(self) -> list[Job]:
        """One pass: take or renew the lease, then requeue or fail the running jobs of lost workers."""
        if not self.store.workers.hold_lease("reaper", self.me, self.lease_ms):
            return []
        if not self._can_judge():
            return []
        return [job for job in map(self._reap, self.store.orphaned_jobs(self.settings.worker_lost_seconds)) if job]

    def _can_judge(self) -> bool:
        """Heartbeats are evidence only once Redis and this process have been up for a full staleness window:
        just after a Redis restart or outage, no worker has had the chance to beat yet."""
        window = self.settings.worker_lost_seconds
        return time.monotonic() - self._last_error >= window and self.store.workers.uptime_seconds() >= window

    def _reap(self, job: Job) -> Job | None:
        assert job.worker is not None and job.status is JobStatus.running
        try:
            after = self.store.worker_lost(job, self.settings.max_attempts)
        except TransitionError:
            return None  # it finished, was canceled, or another delivery started meanwhile
        where = f"{job.worker.host}:{job.worker.pid}"
        if after.status is JobStatus.failed:
            log.error("job failed: its worker %s was lost", where, extra={"job_id": job.id, "attempt": job.attempts})
            return after
        log.warning("job requeued: its worker %s was lost", where, extra={"job_id": job.id, "attempt": job.attempts})
        try:
            self.send(after)
        except Exception as exc:  # the broker went away between the two steps: don't leave it queued forever
            log.exception("requeue failed", extra={"job_id": job.id})
            try:
                self.store.fail(job.id, "enqueue_failed", f"the job could not be queued again: {exc}")
            except TransitionError:
                pass
        return after


def start_reaper(store: JobStore, settings: Settings, send: Sender) -> threading.Event:
    """Run a reaper in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    reaper = Reaper(store, settings, send)
    threading.Thread(target=reaper.run, args=(stop,), name="reaper", daemon=True).start()
    return stop
