"""The lost-worker reaper against a real redis-server: requeue with a new delivery, stale deliveries refused,
duplicates of a live run refused, give up after the attempts, leave live runs alone, one lease holder at a
time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.embedded import shutdown, start_redis
from app.reaper import Reaper
from app.schemas import Job, JobKind, JobStatus, WorkerInfo
from app.settings import Settings
from app.store import JobStore
from app.store.errors import AlreadyRunning, StaleDelivery, TransitionError

LOST = WorkerInfo(host="gone", pid=7, heartbeat="gone:1:aa")
OTHER = WorkerInfo(host="here", pid=8, heartbeat="here:1:bb")
WINDOW = 0.3  # seconds without a heartbeat before a worker counts as lost, here


@pytest.fixture(scope="module", autouse=True)
def redis_up_a_whole_window(redis_url: str) -> None:
    time.sleep(1.1)  # the reaper judges only a Redis up for a whole window (INFO counts whole seconds)


class Sent(list[Job]):
    """The task messages a reaper sends (the API's `send_job` in the service)."""

    def __call__(self, job: Job) -> None:
        self.append(job)


def reaper(store: JobStore, max_attempts: int = 3, window: float = WINDOW) -> tuple[Reaper, Sent]:
    settings = Settings(worker_lost_seconds=window, reaper_interval_seconds=0.1, max_attempts=max_attempts)
    sent = Sent()
    return Reaper(store, settings, sent), sent


def running_on_lost_worker(store: JobStore) -> Job:
    job = store.create(JobKind.style_transfer, {"size": 64}, "alice")
    store.workers.heartbeat(LOST.heartbeat)
    store.start(job.id, LOST)
    time.sleep(WINDOW + 0.1)  # its worker falls silent
    return job


def test_a_lost_workers_job_is_requeued_once_and_the_old_delivery_refused(store: JobStore) -> None:
    job = running_on_lost_worker(store)
    r, sent = reaper(store)
    assert [j.id for j in r.tick()] == [job.id]
    requeued = store.get(job.id)
    assert requeued is not None and requeued.status is JobStatus.queued and requeued.queue_position == 1
    assert requeued.attempts == 1 and requeued.delivery == 1 and "gone:7 was lost" in requeued.message
    assert [(j.id, j.delivery, j.params) for j in sent] == [(job.id, 1, {"size": 64})]
    assert r.tick() == [] and len(sent) == 1  # queued now: nothing more to do

    with pytest.raises(StaleDelivery):  # the broker's late redelivery of the first message
        store.start(job.id, OTHER, delivery=0)
    store.workers.heartbeat(OTHER.heartbeat)
    again = store.start(job.id, OTHER, delivery=1)
    assert again.status is JobStatus.running and again.attempts == 2

    with pytest.raises(StaleDelivery):  # the lost run, had it gone on somewhere, writes nothing
        store.succeed(job.id, {}, {"result": b"old"}, delivery=0)
    store.progress(job.id, 0.9, "old run", delivery=0)
    assert store.blob(job.id, "result") is None and store.get(job.id).progress == 0.0  # type: ignore[union-attr]
    done = store.succeed(job.id, {}, {"result": b"new"}, delivery=1)
    assert done.status is JobStatus.succeeded and store.blob(job.id, "result") == b"new"
    with pytest.raises(TransitionError):
        store.start(job.id, OTHER, delivery=1)  # a redelivery of the current message after success


def test_a_job_that_keeps_losing_its_worker_fails(store: JobStore) -> None:
    job = running_on_lost_worker(store)
    r, sent = reaper(store, max_attempts=2)
    r.tick()
    store.start(job.id, LOST, delivery=1)  # attempt 2, on a worker that is lost too
    time.sleep(WINDOW + 0.1)
    (failed,) = r.tick()
    assert failed.status is JobStatus.failed and failed.error is not None
    assert failed.error.code == "worker_lost" and "2 times" in failed.error.message
    assert len(sent) == 1


def test_a_duplicate_of_a_live_run_is_refused_and_a_lapsed_run_requeued(store: JobStore) -> None:
    job = store.create(JobKind.wave_forecast, {}, "alice")
    store.workers.heartbeat(OTHER.heartbeat)
    run = store.start(job.id, OTHER, lease_ms=400)
    with pytest.raises(AlreadyRunning):  # the same message again, as Redis hands it out after a reconnect
        store.start(job.id, LOST, delivery=0)
    r, sent = reaper(store)
    assert store.renew_run(run, 400) and r.tick() == []
    time.sleep(0.5)  # the run's process died, its worker beats on: the lease lapses
    store.workers.heartbeat(OTHER.heartbeat)
    assert [j.id for j in r.tick()] == [job.id] and [j.delivery for j in sent] == [1]
    again = store.start(job.id, LOST, delivery=1)
    assert again.attempts == 2 and again.worker == LOST


def test_a_run_vouched_dead_by_its_own_worker_is_taken_over_at_once(store: JobStore) -> None:
    job = store.create(JobKind.wave_forecast, {}, "alice")
    store.start(job.id, LOST, lease_ms=60_000)
    with pytest.raises(AlreadyRunning):  # another worker cannot tell whether that run is alive
        store.start(job.id, OTHER, is_dead=lambda w: False)
    again = store.start(job.id, OTHER, is_dead=lambda w: w == LOST)  # its Celery parent saw it die
    assert again.attempts == 2 and again.worker == OTHER


def test_live_workers_and_fresh_jobs_are_left_alone(store: JobStore) -> None:
    job = store.create(JobKind.wave_forecast, {}, "alice")
    store.start(job.id, OTHER)  # never beat, but it has only just started
    r, sent = reaper(store, window=3.0)  # a window a busy machine's scheduling cannot overrun
    assert r.tick() == []
    for _ in range(4):
        store.workers.heartbeat(OTHER.heartbeat)
        time.sleep(0.5)
        assert r.tick() == []
    assert store.get(job.id).status is JobStatus.running and not sent  # type: ignore[union-attr]


def test_one_process_holds_the_lease(store: JobStore) -> None:
    first, _ = reaper(store)
    second, _ = reaper(store)
    assert store.workers.hold_lease("reaper", first.me, 300)
    assert not store.workers.hold_lease("reaper", second.me, 300)
    assert store.workers.hold_lease("reaper", first.me, 300)  # renewed by its holder
    time.sleep(0.4)  # the holder stops renewing (lost with its machine): another takes over
    assert store.workers.hold_lease("reaper", second.me, 300)
    assert not store.workers.hold_lease("reaper", first.me, 300)


def test_no_judgement_right_after_a_redis_start(tmp_path: Path) -> None:
    proc, url = start_redis(tmp_path)
    try:
        store = JobStore.from_url(url, ttl_seconds=60)
        job = store.create(JobKind.style_transfer, {}, "alice")
        store.start(job.id, LOST)
        store.r.zadd("sw:workers", {LOST.heartbeat: store.workers.now() - 120})  # its last beat, two minutes ago
        assert [j.id for j in store.orphaned_jobs(60)] == [job.id]
        settings = Settings(worker_lost_seconds=60, reaper_interval_seconds=0.1)
        # Redis has run for less than a window: no worker has had the chance to beat since it started.
        assert Reaper(store, settings, Sent()).tick() == []
        assert store.get(job.id).status is JobStatus.running  # type: ignore[union-attr]
    finally:
        shutdown([("redis", proc)])
