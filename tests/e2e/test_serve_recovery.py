"""`stylewave serve` (what `make run` starts) under faults: a whole worker lost mid-job, serve itself SIGKILLed,
and a second serve on a data dir that another one holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from app.embedded import free_port
from tests.stack import REPO, poll_ok, wait_for

# Seconds: a heartbeat each, lost after 4 without one, a reaper pass each. The defaults (5, 30, 5) give the
# README's bound; these keep the test short and exercise the same code.
FAST_REAPER = {
    "STYLEWAVE_WORKER_HEARTBEAT_SECONDS": "1",
    "STYLEWAVE_WORKER_LOST_SECONDS": "4",
    "STYLEWAVE_REAPER_INTERVAL_SECONDS": "1",
    "OMP_NUM_THREADS": "1",  # a small job on a busy machine: one math thread does not wait on another
}


@dataclass
class Serve:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def start_serve(data_dir: Path, log: Path, env: dict[str, str] | None = None) -> Serve:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STYLEWAVE_")}
    environ.update(STYLEWAVE_PORT=str(port), STYLEWAVE_DATA_DIR=str(data_dir), **(env or {}))
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"], cwd=REPO, env=environ, stdout=out, stderr=subprocess.STDOUT
        )
    return Serve(proc, f"http://127.0.0.1:{port}", log)


@pytest.fixture()
def serve(tmp_path: Path) -> Iterator[Serve]:
    s = start_serve(tmp_path / "data", tmp_path / "serve.log", FAST_REAPER)
    try:
        assert poll_ok(s.url + "/readyz", 120, alive=lambda: s.proc.poll() is None), s.output()
        yield s
    finally:
        if s.proc.poll() is None:
            s.proc.send_signal(signal.SIGTERM)
            s.proc.wait(60)


def test_worker_group_killed_mid_job(serve: Serve, content_png: bytes, style_png: bytes) -> None:
    with httpx.Client(base_url=serve.url, timeout=30) as c:
        files = [("content", ("c.png", content_png)), ("style", ("s.png", style_png))]
        r = c.post("/v1/style-transfers", files=files, data={"size": "64", "iterations": "100", "scales": "1"})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        deadline = time.monotonic() + 120
        while (job := c.get(f"/v1/jobs/{job_id}").json())["progress"] == 0 or job["status"] != "running":
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        group = os.getpgid(job["worker"]["pid"])
        assert group != os.getpgid(serve.proc.pid)  # the worker's own group: the Celery parent and its pool
        os.killpg(group, signal.SIGKILL)
        killed_at = time.time()

        health_failures = 0
        ready_at = None
        while c.get(f"/v1/jobs/{job_id}").json()["status"] not in ("succeeded", "failed"):
            health_failures += c.get("/healthz").status_code != 200
            if ready_at is None and c.get("/readyz").status_code == 200 and time.time() - killed_at > 1:
                ready_at = time.time()
            assert time.time() - killed_at < 180, "the job was not run again"
            time.sleep(0.2)
        done = wait_for(c, job_id, {"succeeded", "failed"})
        ready_at = ready_at or time.time()
    assert health_failures == 0
    assert done["status"] == "succeeded" and done["attempts"] == 2, done
    assert done["worker"]["pid"] != job["worker"]["pid"]
    assert ready_at - killed_at <= 60
    assert done["started_at"] - killed_at <= 60
    assert serve.proc.poll() is None, "serve stopped when its worker died"
    assert "restarting" in serve.output()


def test_sigkill_of_serve_leaves_no_child(serve: Serve) -> None:
    children = psutil.Process(serve.proc.pid).children(recursive=True)
    names = " ".join(" ".join(c.cmdline()) for c in children)
    assert "redis-server" in names and "celery" in names, names
    serve.proc.kill()
    serve.proc.wait()
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"left behind: {[p.cmdline() for p in alive]}"


def test_second_serve_on_the_same_data_dir_refuses(serve: Serve, tmp_path: Path) -> None:
    second = start_serve(tmp_path / "data", tmp_path / "second.log")
    try:
        assert second.proc.wait(30) != 0
    finally:
        if second.proc.poll() is None:
            second.proc.kill()
    assert "is in use by another stylewave serve" in second.output(), second.output()
    assert httpx.get(serve.url + "/readyz", timeout=5).status_code == 200  # the first one is unharmed
