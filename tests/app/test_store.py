"""The job store against a real redis-server: transitions, attempts, queue positions, ownership, TTLs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.embedded import shutdown, start_redis
from app.schemas import JobKind, JobStatus, WorkerInfo
from app.store import JobStore, TransitionError

ME = WorkerInfo(host="test", pid=1)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_redis(Path(tmp_path_factory.mktemp("redis")))
    yield url
    shutdown([("redis", proc)])


@pytest.fixture()
def store(redis_url: str) -> JobStore:
    s = JobStore.from_url(redis_url, ttl_seconds=60)
    s.r.flushdb()
    return s


def test_lifecycle_and_timestamps(store: JobStore) -> None:
    job = store.create(JobKind.style_transfer, {"size": 64}, "alice", {"content": b"x"})
    assert job.status is JobStatus.queued and len(job.id) == 32
    assert store.get(job.id).queue_position == 1  # type: ignore[union-attr]
    assert store.input(job.id, "content") == b"x" and store.input_names(job.id) == ["content"]

    running = store.start(job.id, ME)
    assert running.status is JobStatus.running and running.attempts == 1 and running.worker == ME
    store.progress(job.id, 0.5, "half", {"loss": 1.0})
    assert store.get(job.id).progress == 0.5  # type: ignore[union-attr]

    done = store.succeed(job.id, {"seconds": 1.0}, {"result": b"png"})
    assert done.status is JobStatus.succeeded and done.finished_at is not None
    assert store.blob(job.id, "result") == b"png"
    assert 0 < store.r.ttl(f"sw:job:{job.id}") <= 60
    with pytest.raises(TransitionError):
        store.cancel(job.id)
    with pytest.raises(TransitionError):
        store.start(job.id, ME)


def test_queue_positions_follow_creation_order(store: JobStore) -> None:
    ids = [store.create(JobKind.style_transfer, {}, "a").id for _ in range(3)]
    assert [store.get(i).queue_position for i in ids] == [1, 2, 3]  # type: ignore[union-attr]
    store.start(ids[0], ME)
    assert store.get(ids[0]).queue_position is None  # type: ignore[union-attr]
    assert store.get(ids[2]).queue_position == 2  # type: ignore[union-attr]
    assert store.queued_count() == 2


def test_redelivery_counts_attempts(store: JobStore) -> None:
    job = store.create(JobKind.wave_forecast, {}, "a")
    store.start(job.id, ME)
    again = store.start(job.id, WorkerInfo(host="other", pid=2))
    assert again.attempts == 2 and again.worker.host == "other"  # type: ignore[union-attr]


def test_cancel_wins_over_a_late_finish(store: JobStore) -> None:
    job = store.create(JobKind.style_transfer, {}, "a")
    store.start(job.id, ME)
    store.cancel(job.id)
    assert store.cancel_requested(job.id)
    with pytest.raises(TransitionError):
        store.succeed(job.id, {}, {})
    store.progress(job.id, 0.9, "late")  # ignored, not an error
    assert store.get(job.id).status is JobStatus.canceled  # type: ignore[union-attr]
    with pytest.raises(TransitionError):
        store.start(job.id, ME)  # a redelivered message cannot revive it


def test_owners_see_only_their_jobs(store: JobStore) -> None:
    a = store.create(JobKind.style_transfer, {}, "alice")
    b = store.create(JobKind.style_transfer, {}, "bob")
    assert store.get(a.id, owner="bob") is None
    assert [j.id for j in store.list_for("bob")] == [b.id]
    assert store.get(a.id, owner="alice") is not None


def test_heartbeats_and_stats(store: JobStore) -> None:
    store.heartbeat(ME)
    assert store.live_workers() == ["test:1"]
    store.forget_worker(ME)
    assert store.live_workers() == []
    job = store.create(JobKind.wave_forecast, {}, "a")
    store.start(job.id, ME)
    store.fail(job.id, "model_error", "bad")
    jobs, durations = store.stats()
    assert jobs["wave_forecast:queued"] == 1 and jobs["wave_forecast:failed"] == 1
    assert durations["wave_forecast"]["+Inf"] == 1


def test_model_cache_mapping(store: JobStore) -> None:
    cache = store.model_cache()
    cache["k"] = b"weights"
    assert cache["k"] == b"weights" and "k" in cache and list(cache) == ["k"]
    del cache["k"]
    with pytest.raises(KeyError):
        cache["k"]


def test_expired_records_leave_the_owner_index(store: JobStore) -> None:
    job = store.create(JobKind.wave_forecast, {}, "carol")
    store.r.delete(f"sw:job:{job.id}")  # what the TTL does
    assert store.list_for("carol") == []
    assert store.r.zcard("sw:owner:carol") == 0
