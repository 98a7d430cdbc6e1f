"""The job store in Redis: job records and their status transitions, inputs and outputs, queue admission.

A status changes only through the named transitions below (`start`, `succeed`, `fail`, `cancel`,
`worker_lost`); each is an optimistic WATCH/MULTI transaction, so an API cancel and a worker finishing at the
same moment cannot both win. The same transaction writes the change's events (`events.py`) and counters
(`stats.py`). Beside the records, the store holds `events` (following a job's event stream) and `workers`
(heartbeats and leases: `registry.py`). Every key it uses is listed in `keys.py`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import redis
import redis.asyncio
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from app.schemas import Job, JobError, JobKind, JobStatus, WebhookDelivery, WorkerInfo
from app.store.errors import AlreadyRunning, QueueFull, StaleDelivery, TransitionError, UnknownJob
from app.store.events import FOLLOW_BLOCK_MS, EventStream, emit, emit_change
from app.store.keys import (
    QUEUE_OF_KIND,
    RUNNING,
    dump_record,
    is_job_id,
    job_key,
    load_record,
    new_job_id,
    owner_key,
    queue_key_of,
    queue_position,
    queued_by_key,
    queued_key,
    run_lease,
    run_lease_key,
)
from app.store.model_cache import ModelCache
from app.store.registry import WorkerRegistry
from app.store.stats import count_finish, count_status

log = logging.getLogger("stylewave.store")
# Called with (record, event) for each webhook event of a job that has a webhook: "start", "progress",
# "completed". The API and the workers hand in one that queues the delivery task.
Notifier = Callable[[Job, str], None]
Write = Callable[[Any], None]  # queues a record change's writes on a pipeline, inside its MULTI
# Webhook progress events are coalesced: at most one per job in this many milliseconds.
WEBHOOK_PROGRESS_MS = 1000
PUBLIC_OWNER = "public"  # every caller of an open service (no API keys): one owner, no per-key share


def run_token(job: Job) -> str:
    """Who holds a running job's lease: its worker, process and delivery."""
    assert job.worker is not None
    return f"{job.worker.heartbeat}:{job.worker.pid}:{job.delivery}"


class JobStore:
    """Reads and writes job records; used by the API (sync routes) and the workers alike."""

    def __init__(
        self,
        client: redis.Redis,
        ttl_seconds: int,
        aclient: redis.asyncio.Redis | None = None,
        ablocking: redis.asyncio.Redis | None = None,
        notify: Notifier | None = None,
    ) -> None:
        # Typed Any: redis-py annotates every reply as a sync/async union; this store always reads bytes.
        self.r: Any = client
        self.ar: Any = aclient  # asyncio twin, for the API's polling hot path (`aget`)
        self.ttl = ttl_seconds
        self.notify = notify
        self.events = EventStream(aclient, ablocking)
        self.workers = WorkerRegistry(client)

    @classmethod
    def from_url(cls, url: str, ttl_seconds: int, notify: Notifier | None = None, patient: bool = False) -> JobStore:
        """`patient` (the workers): retry a lost connection for about 20 s, so that a running job rides out a
        Redis restart; the API keeps redis-py's short retries and answers 503 instead."""
        options: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 2, "health_check_interval": 10}
        if patient:
            options["retry"] = Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=15)
            options["retry_on_error"] = [redis.ConnectionError, redis.TimeoutError]
        # A blocking XREAD waits FOLLOW_BLOCK_MS for an answer: its socket timeout must be longer than that.
        blocking = dict(options, socket_timeout=FOLLOW_BLOCK_MS / 1000 + 5)
        return cls(
            redis.Redis.from_url(url, **options),
            ttl_seconds,
            redis.asyncio.Redis.from_url(url, **options),
            redis.asyncio.Redis.from_url(url, **blocking),
            notify,
        )

    # ---- creation and reads ------------------------------------------------------------------------------
    def create(
        self,
        kind: JobKind,
        params: dict[str, Any],
        owner: str,
        inputs: dict[str, bytes] | None = None,
        webhook: dict[str, Any] | None = None,
        limits: tuple[int, int] | None = None,
    ) -> Job:
        """Store a new `queued` job and its inputs; the caller enqueues the task afterwards.

        `limits` = (whole queue, one owner's share): QueueFull when either is reached. The counts are read
        and the job written in one transaction (WATCH), so concurrent submissions cannot overshoot them.
        """
        job = Job(
            id=new_job_id(),
            kind=kind,
            status=JobStatus.queued,
            created_at=time.time(),
            params=params,
            owner=owner,
            message="waiting for a worker",
            **(webhook or {}),
        )
        job.links = _links(job)
        watched = [queued_key(q) for q in QUEUE_OF_KIND.values()] + [queued_by_key(owner)]
        with self.r.pipeline() as pipe:
            while True:
                try:
                    if limits is not None:
                        pipe.watch(*watched)
                        _admit(pipe, watched, owner, limits)
                    pipe.multi()
                    self._write_new(pipe, job, inputs)
                    pipe.execute()
                    return job
                except redis.WatchError:
                    continue

    def _write_new(self, pipe: Any, job: Job, inputs: dict[str, bytes] | None) -> None:
        kind, owner = job.kind, job.owner
        for name, blob in (inputs or {}).items():
            pipe.set(job_key(job.id, f"in:{name}"), blob, ex=self.ttl)
        if inputs:
            pipe.rpush(job_key(job.id, "inputs"), *inputs)
            pipe.expire(job_key(job.id, "inputs"), self.ttl)
        pipe.set(job_key(job.id), dump_record(job))
        # The creation event is marked, so that a reader can tell a trimmed stream from a whole one.
        emit(pipe, job.id, "status", job.model_dump_json(), first=True)
        pipe.zadd(queued_key(QUEUE_OF_KIND[kind]), {job.id: job.created_at})
        pipe.zadd(queued_by_key(owner), {job.id: job.created_at})
        pipe.zadd(owner_key(owner), {job.id: job.created_at})
        count_status(pipe, kind, JobStatus.queued)

    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        """The record, with its live queue position; None when unknown or owned by someone else."""
        if not is_job_id(job_id):
            return None
        job = load_record(self.r.get(job_key(job_id)), owner)
        if job is not None and job.status is JobStatus.queued:
            job.queue_position = queue_position(self.r.zrank(queue_key_of(job), job.id))
        return job

    async def aget(self, job_id: str, owner: str | None = None) -> Job | None:
        """`get` on the asyncio client, so that polling never waits for a thread."""
        assert self.ar is not None, "JobStore.from_url creates the asyncio client"
        if not is_job_id(job_id):
            return None
        job = load_record(await self.ar.get(job_key(job_id)), owner)
        if job is not None and job.status is JobStatus.queued:
            job.queue_position = queue_position(await self.ar.zrank(queue_key_of(job), job.id))
        return job

    def list_for(self, owner: str, limit: int = 50) -> list[Job]:
        """An owner's most recent jobs, newest first (expired records drop out)."""
        key = owner_key(owner)
        ids = [i.decode() for i in self.r.zrevrange(key, 0, limit - 1)]
        jobs = [self.get(i) for i in ids]
        expired = [i for i, job in zip(ids, jobs, strict=True) if job is None]
        if expired:  # records expire by TTL; keep the owner's index from growing without bound
            self.r.zrem(key, *expired)
        return [j for j in jobs if j is not None]

    def migrate_owner(self, old: str, new: str) -> int:
        """Move every job of owner id `old` to `new` (record, owner index, queued share); how many moved."""
        entries = self.r.zrange(owner_key(old), 0, -1, withscores=True)
        for raw_id, created in entries:
            job_id = raw_id.decode()
            self._set_owner(job_id, old, new)
            pipe = self.r.pipeline()
            pipe.zadd(owner_key(new), {job_id: created})
            if self.r.zscore(queued_by_key(old), job_id) is not None:
                pipe.zadd(queued_by_key(new), {job_id: created})
            pipe.execute()
        if entries:
            self.r.delete(owner_key(old), queued_by_key(old))
            log.info("moved %d jobs to an owner's new id", len(entries))
        return len(entries)

    def _set_owner(self, job_id: str, old: str, new: str) -> None:
        def edit(job: Job) -> bool:
            if job.owner != old:
                return False
            job.owner = new
            return True

        self._rewrite(job_id, edit)

    def queued_count(self, owner: str | None = None) -> int:
        """Jobs waiting: all of them, or one owner's."""
        if owner is not None:
            return int(self.r.zcard(queued_by_key(owner)))
        return sum(int(self.r.zcard(queued_key(q))) for q in QUEUE_OF_KIND.values())

    def queue_lengths(self) -> dict[str, int]:
        """Jobs waiting, by queue (for /metrics)."""
        return {q: int(self.r.zcard(queued_key(q))) for q in QUEUE_OF_KIND.values()}

    def memory(self) -> tuple[int, int]:
        """(bytes Redis uses, its `maxmemory`; 0 when it has none), from INFO memory."""
        info = self.r.info("memory")
        return int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))

    def ping(self) -> bool:
        return bool(self.r.ping())

    def input(self, job_id: str, name: str) -> bytes | None:
        return self.r.get(job_key(job_id, f"in:{name}"))

    def input_names(self, job_id: str) -> list[str]:
        """The names of a job's inputs, in the order they were given."""
        return [name.decode() for name in self.r.lrange(job_key(job_id, "inputs"), 0, -1)]

    # ---- transitions ---------------------------------------------------------------------------------------
    def start(
        self,
        job_id: str,
        worker: WorkerInfo,
        delivery: int = 0,
        lease_ms: int = 15_000,
        is_dead: Callable[[WorkerInfo], bool] | None = None,
    ) -> Job:
        """queued -> running, or running -> running when a lost run's message is delivered again; the run then
        holds the job's lease (`renew_run`) for `lease_ms`.

        Counts the attempt. Raises TransitionError when the job is already finished (e.g. canceled while
        queued), StaleDelivery when `delivery` is not the job's current one (the reaper requeued it with a
        newer message), and AlreadyRunning when the run that holds the lease is alive: the task must not run.
        `is_dead` may vouch that the lease holder is dead although its lease lives on (the Celery parent of a
        killed pool process knows), so the job starts again at once instead of after the lease lapses.
        """

        def mutate(job: Job) -> None:
            held = job.status is JobStatus.running and self.r.exists(run_lease_key(job_id))
            if held and not (is_dead is not None and job.worker is not None and is_dead(job.worker)):
                raise AlreadyRunning(f"job {job_id} is running on {job.worker.host if job.worker else '?'}")
            job.status = JobStatus.running
            job.attempts += 1
            job.started_at = time.time()
            job.worker = worker
            job.queue_position = None
            job.progress = 0.0
            job.eta_seconds = None
            job.message = "started" if job.attempts == 1 else f"started again (attempt {job.attempts})"

        def take_lease(pipe: Any, job: Job) -> None:
            pipe.set(run_lease_key(job_id), run_token(job), px=lease_ms)

        return self._transition(
            job_id, {JobStatus.queued, JobStatus.running}, mutate, delivery=delivery, also=take_lease
        )

    def renew_run(self, job: Job, lease_ms: int) -> bool:
        """Renew the lease of this run of `job`; False once another run holds it (this one was superseded)."""
        return self.workers.hold_lease(run_lease(job.id), run_token(job), lease_ms)

    def progress(
        self,
        job_id: str,
        progress: float,
        message: str,
        metrics: dict[str, Any] | None = None,
        delivery: int | None = None,
        eta_seconds: float | None = None,
    ) -> None:
        """Record progress of a running job; silently ignored once the job has left `running` (or this run)."""

        def mutate(job: Job) -> None:
            job.progress = max(0.0, min(1.0, progress))
            job.message = message
            job.eta_seconds = None if eta_seconds is None else round(max(0.0, eta_seconds), 1)
            if metrics:
                job.metrics.update(metrics)

        try:
            self._transition(job_id, {JobStatus.running}, mutate, event="progress", delivery=delivery)
        except TransitionError:
            pass

    def succeed(
        self, job_id: str, metrics: dict[str, Any], outputs: dict[str, bytes], delivery: int | None = None
    ) -> Job:
        """running -> succeeded, storing the outputs (`result`, optionally `plot`) with the TTL.

        The outputs are written in the same transaction: a run whose delivery is stale writes nothing.
        """

        def mutate(job: Job) -> None:
            job.status = JobStatus.succeeded
            job.progress = 1.0
            job.message = "done"
            job.metrics.update(metrics)

        def store_outputs(pipe: Any, job: Job) -> None:
            for name, blob in outputs.items():
                pipe.set(job_key(job.id, name), blob, ex=self.ttl)

        return self._transition(job_id, {JobStatus.running}, mutate, delivery=delivery, also=store_outputs)

    def fail(self, job_id: str, code: str, message: str, delivery: int | None = None) -> Job:
        """queued|running -> failed, with an error the user can read."""

        def mutate(job: Job) -> None:
            job.status = JobStatus.failed
            job.error = JobError(code=code, message=message)
            job.message = message

        return self._transition(job_id, {JobStatus.queued, JobStatus.running}, mutate, delivery=delivery)

    def worker_lost(self, seen: Job, max_attempts: int) -> Job:
        """running -> queued with a new delivery number (send its task again), or -> failed (`worker_lost`) once
        the job has lost its worker `max_attempts` times. Raises TransitionError unless the job is still in the
        run `seen` (the reaper's snapshot of a run that fell silent)."""

        def mutate(job: Job) -> None:
            if (job.worker, job.delivery, job.attempts) != (seen.worker, seen.delivery, seen.attempts):
                raise TransitionError(f"job {job.id} runs again elsewhere")
            assert job.worker is not None
            lost = f"{job.worker.host}:{job.worker.pid}"
            if job.attempts >= max_attempts:
                job.status = JobStatus.failed
                message = f"the job lost its worker {job.attempts} times (last: {lost}, gone silent); gave up"
                job.error = JobError(code="worker_lost", message=message)
                job.message = message
                return
            job.status = JobStatus.queued
            job.delivery += 1
            job.worker = None
            job.progress = 0.0
            job.message = f"requeued: its worker {lost} was lost"

        return self._transition(seen.id, {JobStatus.running}, mutate)

    def cancel(self, job_id: str) -> Job:
        """queued|running -> canceled; a running worker sees the flag within one iteration and stops."""
        self.r.set(job_key(job_id, "cancel"), b"1", ex=self.ttl)

        def mutate(job: Job) -> None:
            job.status = JobStatus.canceled
            job.message = "canceled"

        return self._transition(job_id, {JobStatus.queued, JobStatus.running}, mutate)

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.r.exists(job_key(job_id, "cancel")))

    def _transition(
        self,
        job_id: str,
        allowed: set[JobStatus],
        mutate: Callable[[Job], None],
        event: str = "status",
        delivery: int | None = None,
        also: Callable[[Any, Job], None] | None = None,
    ) -> Job:
        """Apply `mutate` atomically when the job's status is in `allowed` (and, given `delivery`, the run is the
        job's current one), run `also` in the same transaction, and append the change's event to the stream.

        Every status or progress change goes through here, so the event stream misses none: `status` events
        for the named transitions (then `done` when the job finished), `progress` events for progress.
        """
        before = JobStatus.queued

        def change(pipe: Any, job: Job) -> Write:
            nonlocal before
            if job.status not in allowed:
                raise TransitionError(f"job {job_id} is {job.status.value}")
            if delivery is not None and delivery != job.delivery:
                raise StaleDelivery(f"job {job_id} was requeued (delivery {job.delivery}, not {delivery})")
            before = job.status
            mutate(job)
            inputs = pipe.lrange(job_key(job_id, "inputs"), 0, -1) if job.status.is_terminal else []
            names = [n.decode() for n in inputs]

            def write(tx: Any) -> None:
                self._write_transition(tx, job, before, names)
                if also is not None:
                    also(tx, job)
                emit_change(tx, job, event, self.ttl)

            return write

        job = self._update(job_id, change)
        if job is None:
            raise UnknownJob(f"job {job_id} does not exist")
        self._notify(job, before, event)
        return job

    def _rewrite(self, job_id: str, edit: Callable[[Job], bool]) -> Job | None:
        """Edit a record's other fields in place (no event, TTL kept) when `edit` says it changed something."""

        def change(pipe: Any, job: Job) -> Write | None:
            return (lambda tx: tx.set(job_key(job_id), dump_record(job), keepttl=True)) if edit(job) else None

        return self._update(job_id, change)

    def _update(self, job_id: str, change: Callable[[Any, Job], Write | None]) -> Job | None:
        """The one read-modify-write of a record: WATCH it, read it, let `change` edit it, write in a MULTI.

        `change(pipe, job)` runs while the record is watched (it may read more through `pipe`), edits `job`
        and returns the writes to queue, or None to write nothing. When another client changed the record in
        the meantime the transaction fails and all of it runs again on the new record, so no change is lost.
        None when the job does not exist (or expired).
        """
        key = job_key(job_id)
        with self.r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if raw is None:
                        return None
                    job = Job.model_validate_json(raw)
                    write = change(pipe, job)
                    if write is None:
                        return job
                    pipe.multi()
                    write(pipe)
                    pipe.execute()
                    return job
                except redis.WatchError:
                    continue

    def _write_transition(self, pipe: Any, job: Job, before: JobStatus, inputs: list[str]) -> None:
        """Queue the record's write in the transaction, with its counters and indexes; a finished job's inputs
        are of no more use, so they are deleted now rather than after the TTL."""
        key = job_key(job.id)
        if job.status.is_terminal:
            job.finished_at = time.time()
            job.eta_seconds = None
            pipe.set(key, dump_record(job), ex=self.ttl)
            pipe.delete(job_key(job.id, "inputs"), *(job_key(job.id, f"in:{n}") for n in inputs))
        else:
            pipe.set(key, dump_record(job))
        _count_change(pipe, job, before)
        self._index(pipe, job)

    def _index(self, pipe: Any, job: Job) -> None:
        """Keep the queued (also per owner) and running indexes in step with the record's status."""
        if job.status is JobStatus.queued:
            pipe.zadd(queue_key_of(job), {job.id: job.created_at})
            pipe.zadd(queued_by_key(job.owner), {job.id: job.created_at})
        else:
            pipe.zrem(queue_key_of(job), job.id)
            pipe.zrem(queued_by_key(job.owner), job.id)
        if job.status is JobStatus.running:
            pipe.sadd(RUNNING, job.id)
        else:
            pipe.srem(RUNNING, job.id)
            pipe.delete(run_lease_key(job.id))

    # ---- lost runs ---------------------------------------------------------------------------------------
    def orphaned_jobs(self, lost_seconds: float) -> list[Job]:
        """Running jobs whose run let its lease expire, or whose worker has not beaten for `lost_seconds` (or
        never did, for a job that started that long ago)."""
        now = self.workers.now()
        beats = self.workers.heartbeats()
        orphans = []
        for raw_id in self.r.smembers(RUNNING):
            job = self.get(raw_id.decode())
            if job is None or job.status is not JobStatus.running or job.worker is None:
                self.r.srem(RUNNING, raw_id)  # expired or finished: the index heals itself
                continue
            last = beats.get(job.worker.heartbeat, job.started_at or now)
            if now - last > lost_seconds or not self.r.exists(run_lease_key(job.id)):
                orphans.append(job)
        return orphans

    # ---- blobs -----------------------------------------------------------------------------------------------
    def put_blob(self, job_id: str, name: str, blob: bytes) -> None:
        """Store an intermediate output such as the latest preview (a `preview` event tells the followers)."""
        pipe = self.r.pipeline()
        pipe.set(job_key(job_id, name), blob, ex=self.ttl)
        if name == "preview":
            emit(pipe, job_id, "preview", json.dumps({"url": f"/v1/jobs/{job_id}/preview"}))
        pipe.execute()

    def blob(self, job_id: str, name: str) -> bytes | None:
        return self.r.get(job_key(job_id, name))

    def model_cache(self, owner: str) -> MutableMapping[str, bytes]:
        """A dict-like view of one owner's trained-model cache, shared by every worker on this Redis."""
        return ModelCache(self.r, owner, self.ttl)

    # ---- webhooks --------------------------------------------------------------------------------------------
    def _notify(self, job: Job, before: JobStatus, event: str) -> None:
        """Hand a webhook event to the notifier: start (first run), progress (coalesced), completed."""
        if self.notify is None or job.webhook is None:
            return
        hook = _webhook_event(job, before, event)
        wanted = job.webhook_events_filter
        if hook is None or (wanted is not None and hook not in wanted):
            return
        if hook == "progress" and not self.r.set(job_key(job.id, "whprogress"), b"1", nx=True, px=WEBHOOK_PROGRESS_MS):
            return
        try:
            self.notify(job, hook)
        except Exception:  # the broker hiccuped: the job goes on; its record shows no delivery for the event
            log.exception("could not queue a webhook", extra={"job_id": job.id})

    def record_webhook(self, job_id: str, delivery: WebhookDelivery) -> None:
        """Put one webhook attempt's outcome in the record (the latest progress message replaces older ones)."""

        def edit(job: Job) -> bool:
            keep = [d for d in job.webhooks if d.id != delivery.id]
            if delivery.event == "progress":
                keep = [d for d in keep if d.event != "progress"]
            job.webhooks = [*keep, delivery]
            return True

        self._rewrite(job_id, edit)


def _webhook_event(job: Job, before: JobStatus, event: str) -> str | None:
    """The webhook event of a record change: progress, completed (finished), start (first run), or none."""
    if event == "progress":
        return "progress"
    if job.status.is_terminal:
        return "completed"
    if job.status is JobStatus.running and before is JobStatus.queued:
        return "start"
    return None


def _count_change(pipe: Any, job: Job, before: JobStatus) -> None:
    """Count a job that finished, or that entered another status (running, queued again), for /metrics."""
    if job.status.is_terminal:
        count_finish(pipe, job)
    elif job.status is not before:
        count_status(pipe, job.kind, job.status)


def _admit(pipe: Any, queues: list[str], owner: str, limits: tuple[int, int]) -> None:
    """QueueFull unless the queues (all but the last key) and the owner's share (the last) have room."""
    total_limit, owner_limit = limits
    total = sum(int(pipe.zcard(q)) for q in queues[:-1])
    if total >= total_limit:
        raise QueueFull(f"the queue is full ({total} jobs waiting, limit {total_limit})", per_owner=False)
    mine = int(pipe.zcard(queues[-1]))
    if owner != PUBLIC_OWNER and mine >= owner_limit:
        message = f"this key has {mine} jobs waiting, its share of the queue ({owner_limit} of {total_limit})"
        raise QueueFull(message, per_owner=True)


def _links(job: Job) -> dict[str, str]:
    base = f"/v1/jobs/{job.id}"
    links = {"self": base, "result": f"{base}/result", "events": f"{base}/events"}
    if job.kind is JobKind.style_transfer:
        links["preview"] = f"{base}/preview"
    else:
        links["plot"] = f"{base}/plot"
    return links
