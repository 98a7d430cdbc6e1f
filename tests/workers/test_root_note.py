"""Run as root, the worker explains the SecurityWarning Celery prints about it, in its own JSON log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.stack import REPO

_CELERY_WARNING = "SecurityWarning: You're running the worker with superuser privileges"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="Celery warns only when run as root")
def test_the_root_warning_comes_with_a_word_on_it() -> None:
    env = os.environ | {"STYLEWAVE_REDIS_URL": "redis://127.0.0.1:1/0"}  # no Redis: the warning comes before
    cmd = [sys.executable, "-m", "app.cli", "worker"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and not any(_CELERY_WARNING in line for line in lines):
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    warned = next((i for i, line in enumerate(lines) if _CELERY_WARNING in line), None)
    assert warned is not None, "".join(lines)
    notes = [json.loads(line) for line in lines[:warned] if line.startswith("{")]
    note = next(n for n in notes if n["logger"] == "stylewave.worker")
    assert note["level"] == "warning" and "JSON messages only" in note["msg"] and "README" in note["msg"]
