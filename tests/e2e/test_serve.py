"""`stylewave serve`, the embedded all-in-one behind `make run`: it serves, persists, and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from app.embedded import free_port
from tests.stack import REPO, poll_ok


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_starts_everything_and_a_signal_stops_it_all(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STYLEWAVE_")}
    env.update(STYLEWAVE_PORT=str(port), STYLEWAVE_DATA_DIR=str(tmp_path / "data"))
    serve = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready = poll_ok(f"http://127.0.0.1:{port}/readyz", 90, alive=lambda: serve.poll() is None)
        assert ready, "serve did not become ready"
        children = psutil.Process(serve.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "redis-server" in names and "celery" in names and "api" in names
        # AOF persistence under the data dir, as DESIGN.md asks of the embedded default.
        assert (tmp_path / "data" / "redis" / "redis.conf").read_text().count("appendonly yes") == 1
        serve.send_signal(sig)
        assert serve.wait(timeout=60) == 0
        gone, alive = psutil.wait_procs(children, timeout=20)
        assert not alive, f"left behind: {[p.cmdline() for p in alive]}"
    finally:
        if serve.poll() is None:
            serve.kill()
