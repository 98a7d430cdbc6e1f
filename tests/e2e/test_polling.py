"""The polling fast path (`GET /v1/jobs/{id}`, app/fastpath.py) against the real service, beside the route.

A query string sends the same request through the framework's route instead, so each answer is compared with
the route's. The stack has no worker: jobs stay queued until a test moves them on through the store, as a
worker would.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.embedded import start_redis
from app.schemas import WebhookDelivery, WorkerInfo
from app.store import JobStore
from app.store.keys import job_key
from tests.stack import Stack

KEY_A = {"Authorization": "Bearer key-a"}
KEY_B = {"Authorization": "Bearer key-b"}
FORECAST = {"waves": [{"offset": 1, "terms": [{"fn": "sin", "amplitude": 2, "period": 50}]}], "horizon": 3}
WORKER = WorkerInfo(host="test", pid=1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("polling"), env={"STYLEWAVE_API_KEYS": "key-a,key-b"}, workers=0).start()
    yield s
    s.stop()


@pytest.fixture()
def store(stack: Stack) -> JobStore:
    return JobStore.from_url(stack.redis_url, ttl_seconds=3600)


def submit(c: httpx.Client, headers: dict[str, str] = KEY_A) -> str:
    r = c.post("/v1/wave-forecasts", json=FORECAST, headers=headers)
    assert r.status_code in (200, 201, 202), r.text
    return str(r.json()["id"])


def both(c: httpx.Client, job_id: str, headers: dict[str, str] = KEY_A) -> tuple[int, dict]:
    """The fast path's answer, after checking that the route gives the same one."""
    fast = c.get(f"/v1/jobs/{job_id}", headers=headers)
    route = c.get(f"/v1/jobs/{job_id}?via=route", headers=headers)
    assert (fast.status_code, fast.json()) == (route.status_code, route.json()), job_id
    assert fast.headers["content-type"] == route.headers["content-type"] == "application/json"
    assert fast.headers["content-length"] == str(len(fast.content))
    return fast.status_code, fast.json()


def test_queued_jobs_show_their_live_position(stack: Stack, store: JobStore) -> None:
    with httpx.Client(base_url=stack.url, timeout=30) as c:
        first, second = submit(c), submit(c, KEY_B)
        assert both(c, first)[1]["queue_position"] is not None
        before = both(c, second, KEY_B)[1]["queue_position"]
        store.start(first, WORKER)  # the job ahead leaves the queue: the position moves up at once
        assert both(c, first)[1]["status"] == "running" and both(c, first)[1]["queue_position"] is None
        assert both(c, second, KEY_B)[1]["queue_position"] == before - 1
        assert both(c, second, KEY_A)[0] == 404  # another key's job reads as unknown, queued or not


def test_every_change_of_a_record_is_seen_at_once(stack: Stack, store: JobStore) -> None:
    with httpx.Client(base_url=stack.url, timeout=30) as c:
        job_id = submit(c)
        store.start(job_id, WORKER)
        assert both(c, job_id)[1]["status"] == "running"
        for _ in range(3):  # polls of an unchanged record answer from the kept view: still the same answer
            assert both(c, job_id)[1]["status"] == "running"
        store.succeed(job_id, {"model": "harmonic"}, {"result": b"{}"})
        assert both(c, job_id)[1]["status"] == "succeeded"
        # A finished job's record still changes: each webhook attempt is written into it.
        store.record_webhook(job_id, WebhookDelivery(id="msg_1", event="completed", status_code=500, attempts=1))
        assert both(c, job_id)[1]["webhooks"][0]["status_code"] == 500
        store.record_webhook(job_id, WebhookDelivery(id="msg_1", event="completed", status_code=200, attempts=2))
        assert both(c, job_id)[1]["webhooks"][0]["attempts"] == 2
        # Moved to another owner (as an upgrade's owner-id migration does): gone for this key at once.
        key = job_key(job_id)
        raw = json.loads(store.r.get(key))
        store.r.set(key, json.dumps({**raw, "owner": "someone-else"}), keepttl=True)
        assert both(c, job_id) == (404, {"detail": f"no job {job_id}"})
        store.r.set(key, json.dumps(raw), keepttl=True)
        assert both(c, job_id)[0] == 200
        store.r.delete(key)  # as when its TTL runs out
        assert both(c, job_id) == (404, {"detail": f"no job {job_id}"})


def test_many_concurrent_polls_each_get_their_own_job(stack: Stack, store: JobStore) -> None:
    with httpx.Client(base_url=stack.url, timeout=30) as c:
        jobs = [submit(c) for _ in range(12)]
        for i, job_id in enumerate(jobs[:8]):
            store.start(job_id, WORKER)
            store.progress(job_id, i / 10, f"step {i}")
        expected = {job_id: c.get(f"/v1/jobs/{job_id}?via=route", headers=KEY_A).json() for job_id in jobs}
    order = [random.choice(jobs) for _ in range(240)]
    clients = 24  # each polls its share in turn: 24 polls in flight at once, as from 24 pollers

    async def poll_all() -> list[dict]:
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(base_url=stack.url, headers=KEY_A, timeout=30, limits=limits) as ac:

            async def poller(share: list[str]) -> list[httpx.Response]:
                return [await ac.get(f"/v1/jobs/{job_id}") for job_id in share]

            shares = await asyncio.gather(*(poller(order[k::clients]) for k in range(clients)))
        responses = [shares[i % clients][i // clients] for i in range(len(order))]
        assert all(r.status_code == 200 for r in responses)
        return [r.json() for r in responses]

    answers = asyncio.run(poll_all())
    for job_id, answer in zip(order, answers, strict=True):
        if answer.get("queue_position") is not None:  # positions are live; the rest must be the same
            answer["queue_position"] = expected[job_id]["queue_position"]
        assert answer == expected[job_id]


def test_redis_down_is_a_503_and_polls_recover(tmp_path: Path) -> None:
    stack = Stack(tmp_path, env={"STYLEWAVE_API_KEYS": "key-a"}, workers=0).start()
    try:
        with httpx.Client(base_url=stack.url, timeout=30) as c:
            job_id = submit(c)
            assert c.get(f"/v1/jobs/{job_id}", headers=KEY_A).status_code == 200
            stack.kill("redis")
            r = c.get(f"/v1/jobs/{job_id}", headers=KEY_A)
            assert r.status_code == 503 and "Redis" in r.json()["detail"] and r.headers["retry-after"] == "5"
            proc, url = start_redis(stack.data_dir)  # the same data (AOF) and socket come back
            assert url == stack.redis_url
            stack.procs.insert(0, ("redis", proc))
            deadline = time.monotonic() + 30
            while (r := c.get(f"/v1/jobs/{job_id}", headers=KEY_A)).status_code != 200:
                assert r.status_code == 503 and time.monotonic() < deadline, r.text
                time.sleep(0.2)
            assert r.json()["id"] == job_id
    finally:
        stack.stop()
