"""`preload`: what a worker loads before it forks its job processes, so that no job pays torch's lazy imports."""

from __future__ import annotations

import subprocess
import sys

from tests.stack import REPO

# The modules that the first optimizer step of a fresh process imports: after the worker's start-up hook
# (which calls `preload`) or cold.
FIRST_STEP = """
import sys, torch
if sys.argv[1] == "worker":
    from workers import celery_app
    celery_app._job_processes()
before = set(sys.modules)
x = torch.zeros(3, requires_grad=True)
opt = torch.optim.Adam([x])
(x**2).sum().backward()
opt.step()
print(sorted(set(sys.modules) - before))
"""


def _first_step(mode: str) -> str:
    cmd = [sys.executable, "-c", FIRST_STEP, mode]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]


def test_a_cold_process_imports_dynamo_at_its_first_optimizer_step() -> None:
    assert "'torch._dynamo'" in _first_step("cold")  # what preload is for: torch loads it lazily, about 1 CPU s


def test_a_worker_preloads_it_before_its_first_job() -> None:
    assert _first_step("worker") == "[]"
