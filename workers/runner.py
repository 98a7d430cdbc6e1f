"""The bookkeeping around one run of a job: start, progress, cancel, time limit, attempts, and errors.

Tasks stay thin: they fetch inputs, call a job body (`workers/jobs.py`) with the `JobRun` as its listener,
and hand the outputs to `JobRun.succeed`. Errors are sorted so that the user sees which kind it was:
`invalid_params` (a message the API would have refused), `model_error` (the inputs or numerics were bad),
`time_limit`, `worker_lost` (the job kept killing its worker), or `internal_error` (a short message with an
error id; the details are in the worker's log); a cancel (`models.progress.Canceled`) leaves the job
`canceled`.

A run holds the job's lease, renewed by a thread every heartbeat: a duplicate delivery of its message (Redis
hands unacknowledged messages out again when a worker reconnects) is refused while the lease lives, and the
reaper requeues the job once it lapses (app/reaper.py). A run also carries its message's delivery number:
once the job was requeued, this run is superseded, so it stops at its next check and writes nothing more.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from app.logs import new_error_id
from app.schemas import Job, WorkerInfo
from app.settings import Settings
from app.store import JobStore
from app.store.errors import StaleDelivery, TransitionError
from app.validation import InvalidParams
from models.progress import Canceled

log = logging.getLogger("stylewave.worker")


class JobRun:
    """One run of a job: the listener a job body reports to (`progress`, `preview`, `should_stop`), and `succeed`."""

    CANCEL_POLL_SECONDS = 0.2
    PROGRESS_EVERY_SECONDS = 0.5

    def __init__(self, store: JobStore, job: Job, settings: Settings) -> None:
        self.store, self.job, self.settings = store, job, settings
        self.delivery = job.delivery
        self.started = time.monotonic()
        self.deadline = self.started + settings.job_time_limit_seconds
        self.timed_out = False
        self.canceled = False
        self.superseded = False
        self._next_poll = 0.0
        self._next_progress = 0.0

    @property
    def id(self) -> str:
        return self.job.id

    def keep_alive(self) -> threading.Event:
        """Renew this run's lease from a thread until the returned event is set."""
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self.settings.worker_heartbeat_seconds):
                try:
                    if not self.store.renew_run(self.job, self.settings.run_lease_ms):
                        self.superseded = True
                        return
                except Exception:  # Redis away for a moment: the next renewal may reach it
                    log.warning("could not renew the job's lease", exc_info=True, extra={"job_id": self.id})

        threading.Thread(target=renew, name="run-lease", daemon=True).start()
        return stop

    def should_stop(self) -> bool:
        """True once the job was canceled, requeued elsewhere, or ran past its time limit (polled between
        iterations)."""
        now = time.monotonic()
        if now > self.deadline:
            self.timed_out = True
            return True
        if now >= self._next_poll:
            self._next_poll = now + self.CANCEL_POLL_SECONDS
            self.canceled = self.store.cancel_requested(self.id)
            current = self.store.get(self.id)
            self.superseded = self.superseded or current is None or current.delivery != self.delivery
        return self.canceled or self.superseded

    def progress(
        self, fraction: float, message: str, metrics: dict[str, Any] | None = None, force: bool = False
    ) -> None:
        """Write progress (and the time left) to the job record, at most every PROGRESS_EVERY_SECONDS unless forced."""
        now = time.monotonic()
        if force or now >= self._next_progress:
            self._next_progress = now + self.PROGRESS_EVERY_SECONDS
            eta = eta_seconds(now - self.started, fraction)
            self.store.progress(self.id, fraction, message, metrics, delivery=self.delivery, eta_seconds=eta)

    def preview(self, png: bytes) -> None:
        """Store the latest preview image (`GET /v1/jobs/{id}/preview`)."""
        self.store.put_blob(self.id, "preview", png)

    def succeed(self, metrics: dict[str, Any], outputs: dict[str, bytes]) -> None:
        try:
            self.store.succeed(self.id, metrics, outputs, delivery=self.delivery)
            log.info("job succeeded", extra={"job_id": self.id})
        except StaleDelivery:
            log.warning("job finished here but was requeued meanwhile; result dropped", extra={"job_id": self.id})
        except TransitionError:
            log.info("job finished but was canceled meanwhile", extra={"job_id": self.id})


def eta_seconds(elapsed: float, fraction: float) -> float | None:
    """The seconds left, if the rest of the work goes at the pace so far (progress is a fraction of the work)."""
    if fraction < 0.01 or elapsed < 1.0:
        return None  # too early to tell
    return elapsed * (1.0 - min(fraction, 1.0)) / fraction


@contextmanager
def job_run(
    store: JobStore, settings: Settings, job_id: str, worker: WorkerInfo, delivery: int = 0
) -> Iterator[JobRun | None]:
    """Start the job (or yield None when it must not run) and turn every way out into a final status."""
    job = _start(store, settings, job_id, worker, delivery)
    if job is None:
        yield None
        return
    where = f"{worker.host}:{worker.pid}"
    log.info("job started", extra={"job_id": job_id, "attempt": job.attempts, "worker": where})
    run = JobRun(store, job, settings)
    lease = run.keep_alive()
    try:
        yield run
    except Canceled:
        if run.timed_out:
            _fail(store, job_id, "time_limit", _time_limit_message(settings), delivery)
        elif run.superseded:
            log.warning("job stopped here: it was requeued meanwhile", extra={"job_id": job_id})
        else:
            log.info("job canceled", extra={"job_id": job_id})
    except SoftTimeLimitExceeded:
        _fail(store, job_id, "time_limit", _time_limit_message(settings), delivery)
    except InvalidParams as exc:
        log.warning("job refused: %s", exc, extra={"job_id": job_id})
        _fail(store, job_id, "invalid_params", f"refused by the worker: {exc}", delivery)
    except (ValueError, ArithmeticError) as exc:
        # models/ raises ValueError for inputs it cannot use, FloatingPointError for a non-finite loss.
        log.warning("job failed: %s", exc, extra={"job_id": job_id})
        _fail(store, job_id, "model_error", str(exc), delivery)
    except Exception:
        # The details (a traceback, perhaps paths or addresses) go to the log only; the user gets an id
        # that finds them there.
        error_id = new_error_id()
        log.exception("job crashed (error id %s)", error_id, extra={"job_id": job_id})
        _fail(store, job_id, "internal_error", f"internal error {error_id}; the worker's log has the details", delivery)
    finally:
        lease.set()


def _start(store: JobStore, settings: Settings, job_id: str, worker: WorkerInfo, delivery: int) -> Job | None:
    """The running record, or None when the job must not run: finished already (e.g. canceled while queued),
    requeued to another delivery, unknown, or given up after stopping its worker too often (`worker_lost`)."""
    try:
        job = store.start(job_id, worker, delivery, settings.run_lease_ms, is_dead=_dead_sibling(worker))
    except TransitionError as exc:
        log.info("job skipped: %s", exc, extra={"job_id": job_id[:64]})
        return None
    if job.attempts > settings.max_attempts:
        lost = job.attempts - 1
        message = f"the job stopped its worker {lost} times (out of memory or a crash?); gave up"
        _fail(store, job_id, "worker_lost", message, delivery)
        log.error("job failed after repeated worker loss", extra={"job_id": job_id, "attempt": job.attempts})
        return None
    return job


def _dead_sibling(me: WorkerInfo) -> Callable[[WorkerInfo], bool]:
    """True for a run in another pool process of this same worker that has died (an OOM kill of the pool
    process): its message comes straight back, and it need not wait for the dead run's lease to lapse."""

    def dead(other: WorkerInfo) -> bool:
        if other.heartbeat != me.heartbeat or other.host != me.host or other.pid == me.pid:
            return False
        try:
            os.kill(other.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    return dead


def _time_limit_message(settings: Settings) -> str:
    return f"the job ran past its time limit of {settings.job_time_limit_seconds} s"


def _fail(store: JobStore, job_id: str, code: str, message: str, delivery: int) -> None:
    try:
        store.fail(job_id, code, message, delivery)
    except TransitionError:
        pass  # canceled or requeued meanwhile: that stands
