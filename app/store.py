"""The job store in Redis: job records, their status transitions, inputs, results and worker heartbeats.

A status changes only through the named transitions below (`start`, `succeed`, `fail`, `cancel`); each is
an optimistic WATCH/MULTI transaction, so an API cancel and a worker finishing at the same moment cannot
both win. Keys (all under the `sw:` prefix):

    sw:job:{id}              the record, JSON               (TTL set when it finishes)
    sw:job:{id}:in:{name}    an input blob (image bytes)    (TTL)
    sw:job:{id}:inputs       the input names, in order      (TTL)
    sw:job:{id}:result       result bytes (PNG or JSON)     (TTL)
    sw:job:{id}:preview      latest preview PNG             (TTL)
    sw:job:{id}:plot         forecast plot PNG              (TTL)
    sw:job:{id}:cancel       cancel flag the worker polls   (TTL)
    sw:job:{id}:events       the job's event stream, a capped Redis Stream (TTL set when it finishes)
    sw:queued:{queue}        sorted set of queued ids, by creation time (for queue_position)
    sw:queued_by:{owner}     sorted set of an owner's queued ids (the per-key share of the queue)
    sw:owner:{owner}         sorted set of an owner's ids, by creation time
    sw:running               set of the ids of running jobs (for the lost-worker reaper)
    sw:workers               sorted set of worker heartbeat ids -> last heartbeat (the Redis server's clock)
    sw:lease:{name}          a lease held by one process at a time: the reaper's, and each running job's
                             (`run:{id}`, renewed by the process that runs it)
    sw:worker_capacity       hash worker heartbeat id -> JSON {"memory_mb", "max_size"}: what each worker can plan
    sw:model:{owner}:{key}   cached trained forecast models, per owner (TTL)
    sw:stats:jobs            hash "kind:status" -> jobs counted (queued at creation, then each finish), for /metrics
    sw:stats:duration:{kind} hash of run-time histogram buckets ("1.0" ... "+Inf") and "sum", for /metrics
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from app.schemas import Job, JobError, JobKind, JobStatus, WebhookDelivery, WorkerInfo

log = logging.getLogger("stylewave.store")
# Called with (record, event) for each webhook event of a job that has a webhook: "start", "progress",
# "completed". The API and the workers hand in one that queues the delivery task.
Notifier = Callable[[Job, str], None]
Write = Callable[[Any], None]  # queues a record change's writes on a pipeline, inside its MULTI
# Webhook progress events are coalesced: at most one per job in this many milliseconds.
WEBHOOK_PROGRESS_MS = 1000

PREFIX = "sw:"
PUBLIC_OWNER = "public"  # every caller of an open service (no API keys): one owner, no per-key share
QUEUE_OF_KIND = {JobKind.style_transfer: "style", JobKind.wave_forecast: "forecast"}
HEARTBEAT_STALE_SECONDS = 30.0  # the default of STYLEWAVE_WORKER_LOST_SECONDS
# Lua: stamp a heartbeat with the Redis server's clock, so that hosts with skewed clocks compare fairly.
_BEAT = "local t = redis.call('TIME'); redis.call('ZADD', KEYS[1], t[1] + t[2] / 1e6, ARGV[1]); return 1"
# Lua: take a free lease, or renew it when this holder has it.
_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
# Upper bounds (seconds) of the job-duration histogram kept in Redis for /metrics.
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


# A job's event stream is capped (XADD MAXLEN ~): progress comes at most twice a second, so this holds well
# over ten minutes of it; a client resuming from an id trimmed away gets a fresh `status` event instead.
EVENTS_MAXLEN = 2000
# How long one XREAD blocks before the follower checks that the job still exists.
FOLLOW_BLOCK_MS = 10_000


@dataclass(frozen=True)
class JobEvent:
    """One event of a job's stream: `status`, `progress`, `preview` or `done`, with its JSON data."""

    id: str  # the Redis Stream entry id ("<ms>-<seq>"), also the SSE `id:`
    event: str
    data: str

    @property
    def is_final(self) -> bool:
        return self.event == "done"


class TransitionError(Exception):
    """The job is not in a status that allows the requested transition."""


class QueueFull(Exception):
    """No room for another queued job: the whole queue, or this owner's share of it, is full."""

    def __init__(self, message: str, per_owner: bool) -> None:
        super().__init__(message)
        self.per_owner = per_owner


class UnknownJob(TransitionError):
    """No such job: the id is unknown, or not of the shape of a job id at all."""


JOB_ID = re.compile(r"[0-9a-f]{32}")


class StaleDelivery(TransitionError):
    """The task message is an old delivery of a job that was requeued since: it must not run or write."""


class AlreadyRunning(TransitionError):
    """The task message is a duplicate of a run that is still alive (a broker reconnect hands it out again)."""


def run_token(job: Job) -> str:
    """Who holds a running job's lease: its worker, process and delivery."""
    assert job.worker is not None
    return f"{job.worker.heartbeat}:{job.worker.pid}:{job.delivery}"


def new_job_id() -> str:
    """A random, unguessable id: 32 hex digits = 128 bits from the OS's CSPRNG."""
    return secrets.token_hex(16)


def is_job_id(value: str) -> bool:
    """Whether `value` has the shape of a job id; anything else must never reach a Redis key."""
    return JOB_ID.fullmatch(value) is not None


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
        self.ablock: Any = ablocking or aclient  # asyncio client for blocking reads (`follow`)
        self.ttl = ttl_seconds
        self.notify = notify

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

    # ---- keys -------------------------------------------------------------------------------------------
    @staticmethod
    def _key(job_id: str, suffix: str = "") -> str:
        if not is_job_id(job_id):  # e.g. `<id>:result` would otherwise name another key of the job
            raise UnknownJob(f"not a job id: {job_id[:40]!r}")
        return f"{PREFIX}job:{job_id}{':' + suffix if suffix else ''}"

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
        job.links = self._links(job)
        watched = [f"{PREFIX}queued:{q}" for q in QUEUE_OF_KIND.values()] + [f"{PREFIX}queued_by:{owner}"]
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
            pipe.set(self._key(job.id, f"in:{name}"), blob, ex=self.ttl)
        if inputs:
            pipe.rpush(self._key(job.id, "inputs"), *inputs)
            pipe.expire(self._key(job.id, "inputs"), self.ttl)
        pipe.set(self._key(job.id), self._dump(job))
        # The creation event is marked, so that a reader can tell a trimmed stream from a whole one.
        self._emit(pipe, job.id, "status", job.model_dump_json(), first=True)
        pipe.zadd(f"{PREFIX}queued:{QUEUE_OF_KIND[kind]}", {job.id: job.created_at})
        pipe.zadd(f"{PREFIX}queued_by:{owner}", {job.id: job.created_at})
        pipe.zadd(f"{PREFIX}owner:{owner}", {job.id: job.created_at})
        pipe.hincrby(f"{PREFIX}stats:jobs", f"{kind.value}:queued", 1)

    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        """The record, with its live queue position; None when unknown or owned by someone else."""
        if not is_job_id(job_id):
            return None
        job = self._owned(self.r.get(self._key(job_id)), owner)
        if job is not None and job.status is JobStatus.queued:
            job.queue_position = self._position(self.r.zrank(self._queue_key(job), job.id))
        return job

    async def aget(self, job_id: str, owner: str | None = None) -> Job | None:
        """`get` on the asyncio client, so that polling never waits for a thread."""
        assert self.ar is not None, "JobStore.from_url creates the asyncio client"
        if not is_job_id(job_id):
            return None
        job = self._owned(await self.ar.get(self._key(job_id)), owner)
        if job is not None and job.status is JobStatus.queued:
            job.queue_position = self._position(await self.ar.zrank(self._queue_key(job), job.id))
        return job

    @staticmethod
    def _owned(raw: bytes | None, owner: str | None) -> Job | None:
        if raw is None:
            return None
        job = Job.model_validate_json(raw)
        return None if owner is not None and job.owner != owner else job

    @staticmethod
    def _queue_key(job: Job) -> str:
        return f"{PREFIX}queued:{QUEUE_OF_KIND[job.kind]}"

    @staticmethod
    def _position(rank: int | None) -> int | None:
        return None if rank is None else int(rank) + 1

    def list_for(self, owner: str, limit: int = 50) -> list[Job]:
        """An owner's most recent jobs, newest first (expired records drop out)."""
        key = f"{PREFIX}owner:{owner}"
        ids = [i.decode() for i in self.r.zrevrange(key, 0, limit - 1)]
        jobs = [self.get(i) for i in ids]
        expired = [i for i, job in zip(ids, jobs, strict=True) if job is None]
        if expired:  # records expire by TTL; keep the owner's index from growing without bound
            self.r.zrem(key, *expired)
        return [j for j in jobs if j is not None]

    def migrate_owner(self, old: str, new: str) -> int:
        """Move every job of owner id `old` to `new` (record, owner index, queued share); how many moved."""
        entries = self.r.zrange(f"{PREFIX}owner:{old}", 0, -1, withscores=True)
        for raw_id, created in entries:
            job_id = raw_id.decode()
            self._set_owner(job_id, old, new)
            pipe = self.r.pipeline()
            pipe.zadd(f"{PREFIX}owner:{new}", {job_id: created})
            if self.r.zscore(f"{PREFIX}queued_by:{old}", job_id) is not None:
                pipe.zadd(f"{PREFIX}queued_by:{new}", {job_id: created})
            pipe.execute()
        if entries:
            self.r.delete(f"{PREFIX}owner:{old}", f"{PREFIX}queued_by:{old}")
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
            return int(self.r.zcard(f"{PREFIX}queued_by:{owner}"))
        return sum(int(self.r.zcard(f"{PREFIX}queued:{q}")) for q in QUEUE_OF_KIND.values())

    def memory(self) -> tuple[int, int]:
        """(bytes Redis uses, its `maxmemory`; 0 when it has none), from INFO memory."""
        info = self.r.info("memory")
        return int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))

    def input(self, job_id: str, name: str) -> bytes | None:
        return self.r.get(self._key(job_id, f"in:{name}"))

    def input_names(self, job_id: str) -> list[str]:
        """The names of a job's inputs, in the order they were given."""
        return [name.decode() for name in self.r.lrange(self._key(job_id, "inputs"), 0, -1)]

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
            held = job.status is JobStatus.running and self.r.exists(self._run_lease(job_id))
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
            pipe.set(self._run_lease(job_id), run_token(job), px=lease_ms)

        return self._transition(
            job_id, {JobStatus.queued, JobStatus.running}, mutate, delivery=delivery, also=take_lease
        )

    def renew_run(self, job: Job, lease_ms: int) -> bool:
        """Renew the lease of this run of `job`; False once another run holds it (this one was superseded)."""
        return self.hold_lease(f"run:{job.id}", run_token(job), lease_ms)

    @staticmethod
    def _run_lease(job_id: str) -> str:
        return f"{PREFIX}lease:run:{job_id}"

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
                pipe.set(self._key(job.id, name), blob, ex=self.ttl)

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
        self.r.set(self._key(job_id, "cancel"), b"1", ex=self.ttl)

        def mutate(job: Job) -> None:
            job.status = JobStatus.canceled
            job.message = "canceled"

        return self._transition(job_id, {JobStatus.queued, JobStatus.running}, mutate)

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.r.exists(self._key(job_id, "cancel")))

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
            inputs = pipe.lrange(self._key(job_id, "inputs"), 0, -1) if job.status.is_terminal else []
            names = [n.decode() for n in inputs]

            def write(tx: Any) -> None:
                self._write_transition(tx, job, before, names)
                if also is not None:
                    also(tx, job)
                self._emit_change(tx, job, event)

            return write

        job = self._update(job_id, change)
        if job is None:
            raise UnknownJob(f"job {job_id} does not exist")
        self._notify(job, before, event)
        return job

    def _rewrite(self, job_id: str, edit: Callable[[Job], bool]) -> Job | None:
        """Edit a record's other fields in place (no event, TTL kept) when `edit` says it changed something."""

        def change(pipe: Any, job: Job) -> Write | None:
            return (lambda tx: tx.set(self._key(job_id), self._dump(job), keepttl=True)) if edit(job) else None

        return self._update(job_id, change)

    def _update(self, job_id: str, change: Callable[[Any, Job], Write | None]) -> Job | None:
        """The one read-modify-write of a record: WATCH it, read it, let `change` edit it, write in a MULTI.

        `change(pipe, job)` runs while the record is watched (it may read more through `pipe`), edits `job`
        and returns the writes to queue, or None to write nothing. When another client changed the record in
        the meantime the transaction fails and all of it runs again on the new record, so no change is lost.
        None when the job does not exist (or expired).
        """
        key = self._key(job_id)
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
        key = self._key(job.id)
        if job.status.is_terminal:
            job.finished_at = time.time()
            job.eta_seconds = None
            pipe.set(key, self._dump(job), ex=self.ttl)
            self._count_finish(pipe, job)
            pipe.delete(self._key(job.id, "inputs"), *(self._key(job.id, f"in:{n}") for n in inputs))
        else:
            if job.status is not before:
                pipe.hincrby(f"{PREFIX}stats:jobs", f"{job.kind.value}:{job.status.value}", 1)
            pipe.set(key, self._dump(job))
        self._index(pipe, job)

    def _index(self, pipe: Any, job: Job) -> None:
        """Keep the queued (also per owner) and running indexes in step with the record's status."""
        if job.status is JobStatus.queued:
            pipe.zadd(self._queue_key(job), {job.id: job.created_at})
            pipe.zadd(f"{PREFIX}queued_by:{job.owner}", {job.id: job.created_at})
        else:
            pipe.zrem(self._queue_key(job), job.id)
            pipe.zrem(f"{PREFIX}queued_by:{job.owner}", job.id)
        if job.status is JobStatus.running:
            pipe.sadd(f"{PREFIX}running", job.id)
        else:
            pipe.srem(f"{PREFIX}running", job.id)
            pipe.delete(self._run_lease(job.id))

    @staticmethod
    def _count_finish(pipe: redis.client.Pipeline, job: Job) -> None:
        """Count a finished job and its run time for /metrics (cumulative histogram buckets, as Prometheus)."""
        pipe.hincrby(f"{PREFIX}stats:jobs", f"{job.kind.value}:{job.status.value}", 1)
        if job.started_at is None or job.finished_at is None:
            return
        seconds = job.finished_at - job.started_at
        hist = f"{PREFIX}stats:duration:{job.kind.value}"
        for bound in DURATION_BUCKETS:
            if seconds <= bound:
                pipe.hincrby(hist, str(bound), 1)
        pipe.hincrby(hist, "+Inf", 1)
        pipe.hincrbyfloat(hist, "sum", seconds)

    def stats(self) -> tuple[dict[str, int], dict[str, dict[str, float]]]:
        """(jobs by "kind:status", duration histogram by kind) for /metrics."""
        jobs = {k.decode(): int(v) for k, v in self.r.hgetall(f"{PREFIX}stats:jobs").items()}
        durations = {}
        for kind in JobKind:
            raw = self.r.hgetall(f"{PREFIX}stats:duration:{kind.value}")
            durations[kind.value] = {k.decode(): float(v) for k, v in raw.items()}
        return jobs, durations

    def queue_lengths(self) -> dict[str, int]:
        return {q: int(self.r.zcard(f"{PREFIX}queued:{q}")) for q in QUEUE_OF_KIND.values()}

    def worker_heartbeats(self) -> dict[str, float]:
        return {m.decode(): float(t) for m, t in self.r.zrange(f"{PREFIX}workers", 0, -1, withscores=True)}

    # ---- blobs -----------------------------------------------------------------------------------------------
    def put_blob(self, job_id: str, name: str, blob: bytes) -> None:
        """Store an intermediate output such as the latest preview (a `preview` event tells the followers)."""
        pipe = self.r.pipeline()
        pipe.set(self._key(job_id, name), blob, ex=self.ttl)
        if name == "preview":
            self._emit(pipe, job_id, "preview", json.dumps({"url": f"/v1/jobs/{job_id}/preview"}))
        pipe.execute()

    def blob(self, job_id: str, name: str) -> bytes | None:
        return self.r.get(self._key(job_id, name))

    # ---- webhooks --------------------------------------------------------------------------------------------
    def _notify(self, job: Job, before: JobStatus, event: str) -> None:
        """Hand a webhook event to the notifier: start (first run), progress (coalesced), completed."""
        if self.notify is None or job.webhook is None:
            return
        if event == "progress":
            hook = "progress"
        elif job.status.is_terminal:
            hook = "completed"
        elif job.status is JobStatus.running and before is JobStatus.queued:
            hook = "start"
        else:
            return
        wanted = job.webhook_events_filter
        if wanted is not None and hook not in wanted:
            return
        if hook == "progress" and not self.r.set(
            self._key(job.id, "whprogress"), b"1", nx=True, px=WEBHOOK_PROGRESS_MS
        ):
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

    # ---- events ----------------------------------------------------------------------------------------------
    def _emit(self, pipe: Any, job_id: str, event: str, data: str, first: bool = False) -> None:
        fields = {"event": event, "data": data, **({"first": "1"} if first else {})}
        pipe.xadd(self._key(job_id, "events"), fields, maxlen=EVENTS_MAXLEN, approximate=True)

    def _emit_change(self, pipe: Any, job: Job, event: str) -> None:
        """The events of one record change; a finished job's stream gets `done` and the record's TTL."""
        if event == "progress":
            self._emit(pipe, job.id, "progress", json.dumps({"progress": job.progress, "message": job.message}))
            return
        record = job.model_dump_json()
        self._emit(pipe, job.id, "status", record)
        if job.status.is_terminal:
            self._emit(pipe, job.id, "done", record)
            pipe.expire(self._key(job.id, "events"), self.ttl)

    async def follow(
        self, job_id: str, last_id: str | None = None, owner: str | None = None
    ) -> AsyncIterator[JobEvent]:
        """A job's events, as the API's event stream sends them, until `done` (or the job expires).

        Without `last_id` it starts with a `status` event holding the current record (`done` at once for a
        finished job); with one, it replays every event after that id, then follows. Nothing is yielded for
        an unknown job, or another owner's. Blocking reads are XREAD on the asyncio client: no thread per
        follower, and a follower that is cancelled (its client went away) leaves no read behind.
        """
        snapshot = await self._snapshot(job_id, owner) if is_job_id(job_id) else None
        if snapshot is None:
            return
        job, latest, first = snapshot
        if last_id is None or _gap(first, last_id):
            yield JobEvent(latest, "done" if job.status.is_terminal else "status", job.model_dump_json())
            if job.status.is_terminal:
                return
            last_id = latest
        elif job.status.is_terminal:  # the stream is complete: replay what follows `last_id`, then stop
            entries = await self.ar.xrange(self._key(job_id, "events"), min=f"({last_id}")
            for entry_id, fields in entries:
                yield JobEvent(entry_id.decode(), fields[b"event"].decode(), fields[b"data"].decode())
            return
        async for event in self._tail(job_id, last_id):
            yield event

    async def wait_finished(self, job_id: str, timeout: float) -> Job | None:
        """The finished record once the job's stream says `done`, or None after `timeout` seconds.

        An await on `follow` (blocking XREAD on the asyncio client): a waiting request holds no thread.
        """
        try:
            async with asyncio.timeout(timeout):
                async for event in self.follow(job_id):
                    if event.is_final:
                        return Job.model_validate_json(event.data)
        except TimeoutError:
            pass
        return None

    async def _snapshot(self, job_id: str, owner: str | None) -> tuple[Job, str, tuple[str, bool] | None] | None:
        """(record, id of the newest event, (id of the oldest event, whether it is the creation)), read at once."""
        events = self._key(job_id, "events")
        async with self.ar.pipeline(transaction=True) as pipe:
            pipe.get(self._key(job_id))
            pipe.xrevrange(events, count=1)
            pipe.xrange(events, count=1)
            raw, newest, oldest = await pipe.execute()
        job = self._owned(raw, owner)
        if job is None:
            return None
        if job.status is JobStatus.queued:
            job.queue_position = self._position(await self.ar.zrank(self._queue_key(job), job.id))
        latest = newest[0][0].decode() if newest else "0-0"
        first = None
        if oldest:
            entry_id, fields = oldest[0]
            first = (entry_id.decode(), b"first" in fields)
        return job, latest, first

    async def _tail(self, job_id: str, last_id: str) -> AsyncIterator[JobEvent]:
        """The events after `last_id`, as they come, until `done`, or until the job has expired."""
        events = self._key(job_id, "events")
        while True:
            reply = await self.ablock.xread({events: last_id}, count=100, block=FOLLOW_BLOCK_MS)
            if not reply:
                if not await self.ar.exists(self._key(job_id)):
                    return
                continue
            for entry_id, fields in reply[0][1]:
                last_id = entry_id.decode()
                event = JobEvent(last_id, fields[b"event"].decode(), fields[b"data"].decode())
                yield event
                if event.is_final:
                    return

    # ---- workers ---------------------------------------------------------------------------------------------
    def now(self) -> float:
        """The Redis server's clock: heartbeats are stamped and judged by it alone."""
        seconds, micros = self.r.time()
        return float(seconds) + micros / 1e6

    def heartbeat(self, worker_id: str, capacity: dict[str, int] | None = None) -> None:
        """Mark the worker alive, with what it can plan (`capacity`: memory_mb, max_size) when given."""
        self.r.eval(_BEAT, 1, f"{PREFIX}workers", worker_id)
        if capacity is not None:
            self.r.hset(f"{PREFIX}worker_capacity", worker_id, json.dumps(capacity))

    def largest_plannable_size(self, dream: bool = False) -> int | None:
        """The largest output size any live worker can plan within its memory (for a dream: in one piece);
        None when no live worker has said."""
        live = self.live_workers()
        raw = self.r.hmget(f"{PREFIX}worker_capacity", live) if live else []
        key = "max_size_dream" if dream else "max_size"
        sizes = [int(json.loads(v)[key]) for v in raw if v is not None and key in json.loads(v)]
        return max(sizes) if sizes else None

    def forget_worker(self, worker_id: str) -> None:
        self.r.zrem(f"{PREFIX}workers", worker_id)
        self.r.hdel(f"{PREFIX}worker_capacity", worker_id)

    def live_workers(self, stale_seconds: float = HEARTBEAT_STALE_SECONDS) -> list[str]:
        """Workers that beat within `stale_seconds`; entries a day old are pruned."""
        now = self.now()
        self.r.zremrangebyscore(f"{PREFIX}workers", 0, now - 24 * 3600)
        members = self.r.zrangebyscore(f"{PREFIX}workers", now - stale_seconds, "+inf")
        return [m.decode() for m in members]

    def orphaned_jobs(self, lost_seconds: float) -> list[Job]:
        """Running jobs whose run let its lease expire, or whose worker has not beaten for `lost_seconds` (or
        never did, for a job that started that long ago)."""
        now = self.now()
        beats = self.worker_heartbeats()
        orphans = []
        for raw_id in self.r.smembers(f"{PREFIX}running"):
            job = self.get(raw_id.decode())
            if job is None or job.status is not JobStatus.running or job.worker is None:
                self.r.srem(f"{PREFIX}running", raw_id)  # expired or finished: the index heals itself
                continue
            last = beats.get(job.worker.heartbeat, job.started_at or now)
            if now - last > lost_seconds or not self.r.exists(self._run_lease(job.id)):
                orphans.append(job)
        return orphans

    def hold_lease(self, name: str, holder: str, ttl_ms: int) -> bool:
        """Take the lease `name` if it is free, or renew it if `holder` has it; True while `holder` holds it."""
        return bool(self.r.eval(_LEASE, 1, f"{PREFIX}lease:{name}", holder, ttl_ms))

    def uptime_seconds(self) -> float:
        """How long the Redis server has run (a restart means no worker has had the chance to beat yet)."""
        return float(self.r.info("server")["uptime_in_seconds"])

    def ping(self) -> bool:
        return bool(self.r.ping())

    def model_cache(self, owner: str) -> MutableMapping[str, bytes]:
        """A dict-like view of one owner's trained-model cache, shared by every worker on this Redis.

        Per owner: whether a model is cached tells that someone sent the same series, so one key's cache
        must never answer another's request.
        """
        return _RedisBytesMap(self.r, f"{PREFIX}model:{owner}:", self.ttl)

    # ---- helpers ---------------------------------------------------------------------------------------------
    @staticmethod
    def _dump(job: Job) -> str:
        # `owner` and `delivery` are excluded from API responses but must be kept in storage.
        data = job.model_dump(mode="json")
        data["owner"] = job.owner
        data["delivery"] = job.delivery
        data.pop("queue_position", None)
        return json.dumps(data)

    @staticmethod
    def _links(job: Job) -> dict[str, str]:
        base = f"/v1/jobs/{job.id}"
        links = {"self": base, "result": f"{base}/result", "events": f"{base}/events"}
        if job.kind is JobKind.style_transfer:
            links["preview"] = f"{base}/preview"
        else:
            links["plot"] = f"{base}/plot"
        return links


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


def _stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


def _gap(first: tuple[str, bool] | None, last_id: str) -> bool:
    """True when events after `last_id` were trimmed from the stream (its oldest is not the creation event)."""
    if first is None:
        return False
    first_id, is_creation = first
    return not is_creation and _stream_id(first_id) > _stream_id(last_id)


def valid_event_id(value: str) -> bool:
    """Whether `value` has the shape of a stream id, as a `Last-Event-ID` must."""
    ms, sep, seq = value.partition("-")
    return ms.isdigit() and (not sep or seq.isdigit()) and len(value) <= 41


class _RedisBytesMap(MutableMapping[str, bytes]):
    """A MutableMapping over Redis string keys, so models/ can cache without knowing Redis."""

    def __init__(self, client: redis.Redis, prefix: str, ttl: int) -> None:
        self.r: Any = client
        self.prefix, self.ttl = prefix, ttl

    def __getitem__(self, key: str) -> bytes:
        value = self.r.get(self.prefix + key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: bytes) -> None:
        self.r.set(self.prefix + key, value, ex=self.ttl)

    def __delitem__(self, key: str) -> None:
        self.r.delete(self.prefix + key)

    def __iter__(self) -> Iterator[str]:
        for k in self.r.scan_iter(match=self.prefix + "*"):
            yield k.decode()[len(self.prefix) :]

    def __len__(self) -> int:
        return sum(1 for _ in self)
