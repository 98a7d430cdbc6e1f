"""The /metrics counters against a real redis-server: each status entered, and finished jobs' run times."""

from __future__ import annotations

from app.schemas import JobKind, WorkerInfo
from app.store import JobStore
from app.store.stats import read_stats

ME = WorkerInfo(host="test", pid=1)


def test_a_failed_job_is_counted_queued_then_failed_with_its_run_time(store: JobStore) -> None:
    job = store.create(JobKind.wave_forecast, {}, "a")
    store.start(job.id, ME)
    store.fail(job.id, "model_error", "bad")
    jobs, durations = read_stats(store.r)
    assert jobs["wave_forecast:queued"] == 1 and jobs["wave_forecast:failed"] == 1
    assert durations["wave_forecast"]["+Inf"] == 1
