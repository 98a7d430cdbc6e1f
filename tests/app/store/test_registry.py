"""The worker registry against a real redis-server: heartbeats, what live workers can plan, leases."""

from __future__ import annotations

from app.store import JobStore


def test_heartbeats_mark_workers_live_until_stale_or_forgotten(store: JobStore) -> None:
    store.workers.heartbeat("test:1:abc")
    assert store.workers.live() == ["test:1:abc"]
    assert store.workers.live(stale_seconds=0) == []
    store.workers.forget("test:1:abc")
    assert store.workers.live() == []


def test_live_workers_publish_the_largest_size_they_can_plan(store: JobStore) -> None:
    workers = store.workers
    assert workers.largest_plannable_size() is None  # nobody has said: nothing to refuse on
    workers.heartbeat("test:1", {"memory_mb": 3000, "max_size": 2048, "max_size_dream": 1024})
    workers.heartbeat("big:2", {"memory_mb": 16000, "max_size": 4096, "max_size_dream": 2400})
    workers.heartbeat("old:3")  # a worker that publishes nothing does not count
    assert workers.largest_plannable_size() == 4096 and workers.largest_plannable_size(dream=True) == 2400
    store.r.zadd("sw:workers", {"big:2": 1.0})  # its heartbeat went stale: only the live ones count
    assert workers.largest_plannable_size() == 2048
    workers.forget("test:1")
    assert workers.largest_plannable_size() is None and not store.r.hexists("sw:worker_capacity", "test:1")
