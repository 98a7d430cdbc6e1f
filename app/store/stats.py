"""The job counters behind /metrics, kept in Redis so that every API process reports the same numbers.

`sw:stats:jobs` counts the jobs that entered each status, by kind; `sw:stats:duration:{kind}` is a cumulative
histogram of finished jobs' run times, as Prometheus has them. The job store writes them in the transaction of
each change; app/metrics.py reads them at scrape time.
"""

from __future__ import annotations

from typing import Any

from app.schemas import Job, JobKind, JobStatus
from app.store.keys import STATS_JOBS, duration_key

# Upper bounds (seconds) of the job-duration histogram.
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def count_status(pipe: Any, kind: JobKind, status: JobStatus) -> None:
    """Count a job entering `status` (queued at creation and at a requeue, running at each start)."""
    pipe.hincrby(STATS_JOBS, f"{kind.value}:{status.value}", 1)


def count_finish(pipe: Any, job: Job) -> None:
    """Count a finished job and its run time (cumulative histogram buckets, as Prometheus)."""
    count_status(pipe, job.kind, job.status)
    if job.started_at is None or job.finished_at is None:
        return
    seconds = job.finished_at - job.started_at
    hist = duration_key(job.kind)
    for bound in DURATION_BUCKETS:
        if seconds <= bound:
            pipe.hincrby(hist, str(bound), 1)
    pipe.hincrby(hist, "+Inf", 1)
    pipe.hincrbyfloat(hist, "sum", seconds)


def read_stats(client: Any) -> tuple[dict[str, int], dict[str, dict[str, float]]]:
    """(jobs by "kind:status", duration histogram by kind)."""
    jobs = {k.decode(): int(v) for k, v in client.hgetall(STATS_JOBS).items()}
    durations = {}
    for kind in JobKind:
        raw = client.hgetall(duration_key(kind))
        durations[kind.value] = {k.decode(): float(v) for k, v in raw.items()}
    return jobs, durations
