"""Faults survived with real processes: API keys, backpressure, killed workers, time limits, restarts, Redis down."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.embedded import start_redis
from tests.stack import Stack, wait_for

A = {"Authorization": "Bearer key-a"}
B = {"Authorization": "Bearer key-b"}


def files(content: bytes, style: bytes) -> list:
    return [("content", ("c.png", content)), ("style", ("s.png", style))]


def submit_style(c: httpx.Client, content: bytes, style: bytes, headers: dict | None = None, **fields: object):
    data = {"size": "64", "iterations": "20", "scales": "1", **{k: str(v) for k, v in fields.items()}}
    return c.post("/v1/style-transfers", files=files(content, style), data=data, headers=headers or {})


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"STYLEWAVE_API_KEYS": "key-a,key-b", "STYLEWAVE_MAX_QUEUED": "3", "STYLEWAVE_MAX_ATTEMPTS": "2"}
    stack = Stack(tmp_path_factory.mktemp("locked"), env=env).start()
    yield stack
    stack.stop()


@pytest.fixture()
def lc(locked: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=locked.url, timeout=30) as c:
        yield c


def test_api_keys_isolate_callers(lc: httpx.Client, content_png: bytes, style_png: bytes) -> None:
    assert submit_style(lc, content_png, style_png).status_code == 401
    assert submit_style(lc, content_png, style_png, {"Authorization": "Bearer wrong"}).status_code == 401
    assert lc.get("/v1/jobs").status_code == 401
    r = submit_style(lc, content_png, style_png, A)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert lc.get(f"/v1/jobs/{job_id}", headers=A).status_code == 200
    assert lc.get(f"/v1/jobs/{job_id}", headers=B).status_code == 404
    assert lc.get(f"/v1/jobs/{job_id}/result", headers=B).status_code == 404
    assert lc.delete(f"/v1/jobs/{job_id}", headers=B).status_code == 404
    assert job_id not in [j["id"] for j in lc.get("/v1/jobs", headers=B).json()["jobs"]]
    assert job_id in [j["id"] for j in lc.get("/v1/jobs", headers=A).json()["jobs"]]
    assert lc.get("/healthz").status_code == 200  # liveness stays open
    lc.headers.update(A)
    wait_for(lc, job_id, {"succeeded", "failed"}, timeout=120)


def test_backpressure_answers_429_with_retry_after(lc: httpx.Client, content_png: bytes, style_png: bytes) -> None:
    codes, ids = [], []
    for _ in range(7):
        r = submit_style(lc, content_png, style_png, A, iterations=5000)
        codes.append(r.status_code)
        if r.status_code == 202:
            ids.append(r.json()["id"])
        else:
            assert r.status_code == 429 and int(r.headers["retry-after"]) > 0, r.text
    assert 429 in codes and len(ids) <= 4
    for job_id in ids:
        lc.delete(f"/v1/jobs/{job_id}", headers=A)


def _running_pid(c: httpx.Client, job_id: str, attempt: int) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = c.get(f"/v1/jobs/{job_id}", headers=A).json()
        if job["status"] == "running" and job["attempts"] == attempt and job.get("worker"):
            return int(job["worker"]["pid"])
        time.sleep(0.1)
    raise AssertionError(f"job never ran attempt {attempt}: {job}")


def test_killed_worker_job_runs_again(locked: Stack, lc: httpx.Client, content_png: bytes, style_png: bytes) -> None:
    lc.headers.update(A)
    job_id = submit_style(lc, content_png, style_png, A, iterations=150).json()["id"]
    os.kill(_running_pid(lc, job_id, 1), signal.SIGKILL)
    done = wait_for(lc, job_id, {"succeeded", "failed"}, timeout=240)
    assert done["status"] == "succeeded" and done["attempts"] >= 2, done
    locked.wait_ready(60)


def test_job_that_keeps_killing_its_worker_fails(lc: httpx.Client, content_png: bytes, style_png: bytes) -> None:
    lc.headers.update(A)
    job_id = submit_style(lc, content_png, style_png, A, iterations=5000).json()["id"]
    os.kill(_running_pid(lc, job_id, 1), signal.SIGKILL)
    os.kill(_running_pid(lc, job_id, 2), signal.SIGKILL)  # STYLEWAVE_MAX_ATTEMPTS=2
    done = wait_for(lc, job_id, {"succeeded", "failed"}, timeout=240)
    assert done["status"] == "failed" and done["error"]["code"] == "worker_lost", done
    assert "2 times" in done["error"]["message"]


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("limited"), env={"STYLEWAVE_JOB_TIME_LIMIT_SECONDS": "10"}).start()
    yield stack
    stack.stop()


def test_time_limit_fails_the_job_and_the_worker_goes_on(limited: Stack, content_png: bytes, style_png: bytes) -> None:
    with httpx.Client(base_url=limited.url, timeout=30) as c:
        slow = submit_style(c, content_png, style_png, iterations=8000).json()["id"]
        done = wait_for(c, slow, {"succeeded", "failed"}, timeout=120)
        assert done["status"] == "failed" and done["error"]["code"] == "time_limit", done
        quick = submit_style(c, content_png, style_png, iterations=2, size=32).json()["id"]
        after = wait_for(c, quick, {"succeeded", "failed"}, timeout=120)
        assert after["status"] == "succeeded", after["error"]


def test_redis_down_answers_503_then_recovers(limited: Stack) -> None:
    with httpx.Client(base_url=limited.url, timeout=30) as c:
        limited.kill("redis")
        r = c.get(f"/v1/jobs/{'0' * 32}")  # an id of the right shape: the lookup reaches Redis
        assert r.status_code == 503 and "Redis" in r.json()["detail"]
        assert c.post("/v1/wave-forecasts", json={"waves": [{"offset": 1}], "horizon": 2}).status_code == 503
        assert c.get("/readyz").status_code == 503
        assert c.get("/healthz").status_code == 200
        proc, _ = start_redis(limited.data_dir)
        limited.procs.insert(0, ("redis", proc))
        deadline = time.monotonic() + 60
        while c.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "did not recover after Redis came back"
            time.sleep(0.5)
        assert c.get(f"/v1/jobs/{'0' * 32}").status_code == 404


def test_full_restart_keeps_results_and_runs_queued_jobs(tmp_path: Path, content_png: bytes, style_png: bytes) -> None:
    first = Stack(tmp_path).start()
    try:
        with httpx.Client(base_url=first.url, timeout=30) as c:
            done_id = submit_style(c, content_png, style_png, iterations=5).json()["id"]
            assert wait_for(c, done_id, {"succeeded", "failed"}, timeout=120)["status"] == "succeeded"
            before = c.get(f"/v1/jobs/{done_id}/result").content
            running_id = submit_style(c, content_png, style_png, iterations=400, size=32).json()["id"]
            wait_for(c, running_id, {"running"}, timeout=60)
            queued_id = submit_style(c, content_png, style_png, iterations=5).json()["id"]
            assert c.get(f"/v1/jobs/{queued_id}").json()["status"] == "queued"
    finally:
        first.stop()  # SIGTERM: the interrupted job's message goes back to the queue
    second = Stack(tmp_path).start()
    try:
        with httpx.Client(base_url=second.url, timeout=30) as c:
            assert c.get(f"/v1/jobs/{done_id}/result").content == before
            for job_id in (running_id, queued_id):
                job = wait_for(c, job_id, {"succeeded", "failed"}, timeout=240)
                assert job["status"] == "succeeded", job["error"]
            assert c.get(f"/v1/jobs/{running_id}").json()["attempts"] == 2
    finally:
        second.stop()
