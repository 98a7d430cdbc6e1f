"""Every Redis key the service keeps, the shape of a job id, and how a job's record is stored.

Keys (all under the `sw:` prefix; Celery's broker keeps its own queues beside them):

    sw:job:{id}              the record, JSON               (TTL set when it finishes)
    sw:job:{id}:in:{name}    an input blob (image bytes)    (TTL)
    sw:job:{id}:inputs       the input names, in order      (TTL)
    sw:job:{id}:result       result bytes (PNG or JSON)     (TTL)
    sw:job:{id}:preview      latest preview PNG             (TTL)
    sw:job:{id}:plot         forecast plot PNG              (TTL)
    sw:job:{id}:cancel       cancel flag the worker polls   (TTL)
    sw:job:{id}:whprogress   held WEBHOOK_PROGRESS_MS after a webhook progress event, to coalesce them (jobs.py)
    sw:job:{id}:events       the job's event stream, a capped Redis Stream (TTL set when it finishes; events.py)
    sw:queued:{queue}        sorted set of queued ids, by creation time (for queue_position)
    sw:queued_by:{owner}     sorted set of an owner's queued ids (the per-key share of the queue)
    sw:owner:{owner}         sorted set of an owner's ids, by creation time
    sw:running               set of the ids of running jobs (for the lost-worker reaper)
    sw:workers               sorted set of worker heartbeat ids -> last heartbeat (the Redis server's clock)
    sw:lease:{name}          a lease held by one process at a time: the reaper's, and each running job's
                             (`run:{id}`, renewed by the process that runs it)
    sw:worker_capacity       hash worker heartbeat id -> JSON {"memory_mb", "max_size", "max_size_dream"}: what
                             each worker can plan
    sw:model:{owner}:{key}   cached trained forecast models, per owner (TTL; model_cache.py)
    sw:stats:jobs            hash "kind:status" -> jobs that entered that status, for /metrics (stats.py)
    sw:stats:duration:{kind} hash of run-time histogram buckets ("1.0" ... "+Inf") and "sum", for /metrics
    sw:secret:owner          the key that turns API keys into owner ids (app/owners.py)
    sw:webhook:secret        the key that signs webhooks, unless set in the environment (app/webhooks.py)
"""

from __future__ import annotations

import json
import re
import secrets

from app.schemas import Job, JobKind
from app.store.errors import UnknownJob

PREFIX = "sw:"
QUEUE_OF_KIND = {JobKind.style_transfer: "style", JobKind.wave_forecast: "forecast"}
JOB_ID = re.compile(r"[0-9a-f]{32}")

RUNNING = f"{PREFIX}running"
WORKERS = f"{PREFIX}workers"
WORKER_CAPACITY = f"{PREFIX}worker_capacity"
STATS_JOBS = f"{PREFIX}stats:jobs"


def new_job_id() -> str:
    """A random, unguessable id: 32 hex digits = 128 bits from the OS's CSPRNG."""
    return secrets.token_hex(16)


def is_job_id(value: str) -> bool:
    """Whether `value` has the shape of a job id; anything else must never reach a Redis key."""
    return JOB_ID.fullmatch(value) is not None


def job_key(job_id: str, suffix: str = "") -> str:
    """`sw:job:{id}` (the record) or `sw:job:{id}:{suffix}`; UnknownJob for anything but a job id."""
    if not is_job_id(job_id):  # e.g. `<id>:result` would otherwise name another key of the job
        raise UnknownJob(f"not a job id: {job_id[:40]!r}")
    return f"{PREFIX}job:{job_id}{':' + suffix if suffix else ''}"


def queued_key(queue: str) -> str:
    return f"{PREFIX}queued:{queue}"


def queue_key_of(job: Job) -> str:
    """The queue a job of this kind waits in."""
    return queued_key(QUEUE_OF_KIND[job.kind])


def queued_by_key(owner: str) -> str:
    return f"{PREFIX}queued_by:{owner}"


def owner_key(owner: str) -> str:
    return f"{PREFIX}owner:{owner}"


def lease_key(name: str) -> str:
    return f"{PREFIX}lease:{name}"


def run_lease(job_id: str) -> str:
    """The name of the lease of a job's current run (see `app.store.run_token` for its holder)."""
    return f"run:{job_id}"


def run_lease_key(job_id: str) -> str:
    return lease_key(run_lease(job_id))


def model_prefix(owner: str) -> str:
    return f"{PREFIX}model:{owner}:"


def duration_key(kind: JobKind) -> str:
    return f"{PREFIX}stats:duration:{kind.value}"


def dump_record(job: Job) -> str:
    """The record as stored: `owner` and `delivery` are excluded from API responses but must be kept here."""
    data = job.model_dump(mode="json")
    data["owner"] = job.owner
    data["delivery"] = job.delivery
    data.pop("queue_position", None)
    return json.dumps(data)


def load_record(raw: bytes | None, owner: str | None = None) -> Job | None:
    """The stored record; None when there is none, or (given `owner`) it is someone else's."""
    if raw is None:
        return None
    job = Job.model_validate_json(raw)
    return None if owner is not None and job.owner != owner else job


def queue_position(rank: int | None) -> int | None:
    """A queued job's 1-based place from its rank in `sw:queued:{queue}` (None: not queued)."""
    return None if rank is None else int(rank) + 1
