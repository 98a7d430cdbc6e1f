"""The job store against a real redis-server: transitions, attempts, queue positions, ownership, TTLs."""

from __future__ import annotations

import time

import pytest

import app.store.jobs
from app.schemas import Job, JobKind, JobStatus, WorkerInfo
from app.store import JobStore
from app.store.errors import QueueFull, TransitionError, UnknownJob
from app.store.keys import dump_record

ME = WorkerInfo(host="test", pid=1)


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
    store.start(job.id, ME, lease_ms=1)
    time.sleep(0.01)  # its process died: the run's lease lapsed, so the message may run again
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


def test_an_owner_id_migration_moves_records_index_and_queued_share(store: JobStore) -> None:
    queued, running, done = (store.create(JobKind.style_transfer, {}, "old").id for _ in range(3))
    theirs = store.create(JobKind.style_transfer, {}, "someone").id
    store.start(running, ME)
    store.start(done, ME)
    store.succeed(done, {}, {"result": b"png"})
    ttl = store.r.ttl(f"sw:job:{done}")

    assert store.migrate_owner("old", "new") == 3
    for job_id in (queued, running, done):
        assert store.get(job_id, owner="old") is None and store.get(job_id, owner="new") is not None
    assert [j.id for j in store.list_for("new")] == [done, running, queued] and store.list_for("old") == []
    assert store.queued_count("new") == 1 and store.queued_count("old") == 0
    assert store.get(queued, owner="new").queue_position == 1  # type: ignore[union-attr]
    assert 0 < store.r.ttl(f"sw:job:{done}") <= ttl  # a finished record keeps its expiry
    assert store.r.ttl(f"sw:job:{running}") == -1  # and a live one stays without
    assert store.get(theirs, owner="someone") is not None
    assert store.migrate_owner("old", "new") == 0  # done once


def test_an_owner_move_that_races_another_write_keeps_both(
    store: JobStore, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = store.create(JobKind.style_transfer, {}, "old").id
    store.start(job_id, ME)
    worker = JobStore.from_url(redis_url, ttl_seconds=60)  # another process's connection
    raced = []

    def dump_after_a_rival_write(job: Job) -> str:
        if not raced:  # between the migration's read and its write, the worker records progress
            raced.append(True)
            worker.progress(job_id, 0.5, "half")
        return dump_record(job)

    monkeypatch.setattr(app.store.jobs, "dump_record", dump_after_a_rival_write)
    store.migrate_owner("old", "new")
    job = worker.get(job_id, owner="new")
    assert raced and job is not None and (job.progress, job.message) == (0.5, "half")


def test_progress_carries_the_time_left_until_the_job_finishes(store: JobStore) -> None:
    job = store.create(JobKind.style_transfer, {}, "a")
    store.start(job.id, ME)
    store.progress(job.id, 0.25, "step 1/4", eta_seconds=30.04)
    assert store.get(job.id).eta_seconds == 30.0  # type: ignore[union-attr]
    store.progress(job.id, 0.5, "step 2/4")
    assert store.get(job.id).eta_seconds is None  # type: ignore[union-attr]
    store.progress(job.id, 0.75, "step 3/4", eta_seconds=5.0)
    assert store.succeed(job.id, {}, {}).eta_seconds is None


def test_the_queue_and_each_owners_share_of_it_are_enforced_at_creation(store: JobStore) -> None:
    for _ in range(2):
        store.create(JobKind.style_transfer, {}, "a", limits=(3, 2))
    with pytest.raises(QueueFull) as a_full:
        store.create(JobKind.wave_forecast, {}, "a", limits=(3, 2))
    assert a_full.value.per_owner
    b = store.create(JobKind.wave_forecast, {}, "b", limits=(3, 2))  # another key still gets in
    with pytest.raises(QueueFull) as all_full:
        store.create(JobKind.wave_forecast, {}, "c", limits=(3, 2))
    assert not all_full.value.per_owner
    store.start(b.id, ME)  # a job that leaves the queue frees its owner's slot
    assert (store.queued_count("b"), store.queued_count("a"), store.queued_count()) == (0, 2, 2)
    store.create(JobKind.wave_forecast, {}, "c", limits=(3, 2))


def test_an_open_service_has_one_owner_and_no_per_owner_share(store: JobStore) -> None:
    for _ in range(3):
        store.create(JobKind.wave_forecast, {}, "public", limits=(3, 1))
    with pytest.raises(QueueFull):
        store.create(JobKind.wave_forecast, {}, "public", limits=(3, 1))


@pytest.mark.parametrize("finish", ["succeed", "fail", "cancel", "cancel_queued"])
def test_inputs_are_deleted_when_the_job_finishes(store: JobStore, finish: str) -> None:
    job = store.create(JobKind.style_transfer, {}, "a", {"content": b"c" * 1000, "style0": b"s"})
    assert store.input_names(job.id) == ["content", "style0"]
    if finish != "cancel_queued":
        store.start(job.id, ME)
    if finish == "succeed":
        store.succeed(job.id, {}, {"result": b"png"})
    elif finish == "fail":
        store.fail(job.id, "model_error", "bad")
    else:
        store.cancel(job.id)
    assert store.input(job.id, "content") is None and store.input(job.id, "style0") is None
    assert store.input_names(job.id) == []
    assert store.r.exists(f"sw:job:{job.id}") == 1


def test_a_redelivered_running_job_keeps_its_inputs(store: JobStore) -> None:
    job = store.create(JobKind.style_transfer, {}, "a", {"content": b"c"})
    store.start(job.id, ME)
    store.start(job.id, ME, is_dead=lambda w: True)  # its first run died: delivered again
    assert store.input(job.id, "content") == b"c"


def test_ids_that_are_not_job_ids_never_reach_a_key(store: JobStore) -> None:
    job = store.create(JobKind.wave_forecast, {}, "a")
    for bad in (f"{job.id}:result", job.id.upper(), job.id[:-1], "../x", ""):
        assert store.get(bad) is None
        with pytest.raises(UnknownJob):
            store.cancel(bad)
        with pytest.raises(UnknownJob):
            store.start(bad, ME)


def test_memory_reports_use_and_limit(store: JobStore) -> None:
    used, limit = store.memory()
    assert used > 0 and limit >= 0


def test_expired_records_leave_the_owner_index(store: JobStore) -> None:
    job = store.create(JobKind.wave_forecast, {}, "carol")
    store.r.delete(f"sw:job:{job.id}")  # what the TTL does
    assert store.list_for("carol") == []
    assert store.r.zcard("sw:owner:carol") == 0


def test_webhook_events_start_progress_coalesced_and_completed(redis_url: str) -> None:
    sent: list[str] = []
    store = JobStore.from_url(redis_url, ttl_seconds=60, notify=lambda job, event: sent.append(event))
    hooked = store.create(JobKind.style_transfer, {}, "alice", webhook={"webhook": "https://example.com/h"})
    plain = store.create(JobKind.style_transfer, {}, "alice")
    for job_id in (hooked.id, plain.id):
        store.start(job_id, ME, lease_ms=1)
        for i in range(5):
            store.progress(job_id, i / 10, "p")  # within a second: one progress event
        time.sleep(0.01)
        store.start(job_id, ME)  # a redelivery after a lost run is not a second start
        store.succeed(job_id, {}, {})
    assert sent == ["start", "progress", "completed"]
    only_completed = {"webhook": "https://example.com/h", "webhook_events_filter": ["completed"]}
    filtered = store.create(JobKind.style_transfer, {}, "alice", webhook=only_completed)
    store.start(filtered.id, ME)
    store.cancel(filtered.id)
    assert sent[3:] == ["completed"]
