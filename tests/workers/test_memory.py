"""The memory a style job may plan for: settings, cgroup limits (v1 and v2), and what the worker publishes."""

from __future__ import annotations

from pathlib import Path

from models.nst.plan import largest_size
from workers import memory

MB = 2**20


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_limit_on_an_ancestor_counts(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    _write(root / "kube" / "pod" / "memory.max", "max\n")  # the process's own group has no limit
    _write(root / "kube" / "pod" / "memory.current", "100\n")
    _write(root / "kube" / "memory.max", f"{3000 * MB}\n")  # its container's has
    _write(root / "kube" / "memory.current", f"{1000 * MB}\n")
    _write(tmp_path / "self", "0::/kube/pod\n")
    assert memory.cgroup_memory(root, tmp_path / "self") == (3000 * MB, 1000 * MB)


def test_cgroup_v1_memory_controller(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    _write(root / "memory" / "docker" / "abc" / "memory.limit_in_bytes", f"{2048 * MB}\n")
    _write(root / "memory" / "docker" / "abc" / "memory.usage_in_bytes", f"{512 * MB}\n")
    _write(root / "memory" / "memory.limit_in_bytes", "9223372036854771712\n")  # the host: no limit
    _write(tmp_path / "self", "7:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n")
    assert memory.cgroup_memory(root, tmp_path / "self") == (2048 * MB, 512 * MB)


def test_no_cgroup_means_no_limit(tmp_path: Path) -> None:
    assert memory.cgroup_memory(tmp_path, tmp_path / "missing") == (None, None)


def test_this_machine_reports_sane_figures() -> None:
    assert memory.meminfo()["MemTotal"] >= memory.meminfo()["MemAvailable"] > 0
    assert 0 < memory.rss_bytes() < memory.machine_bytes()
    assert memory.rss_bytes() < memory.free_bytes() <= memory.machine_bytes() + memory.rss_bytes()


def test_the_setting_is_shared_among_the_job_processes() -> None:
    assert memory.worker_budget(6000, 2, "cpu") == 3000 * MB
    assert memory.worker_budget(None, 1, "cpu") == int(memory.machine_bytes() * memory.MACHINE_SHARE)
    assert memory.job_budget(6000, 2, "cpu") <= 3000 * MB  # and capped by what is free now


def test_the_published_capacity_is_what_the_planner_can_do() -> None:
    cap = memory.capacity(4000, 1, "cpu", max_size=4096)
    assert cap["memory_mb"] == 4000
    assert cap["max_size"] == largest_size(4000 * MB, 4096) and 1024 <= cap["max_size"] <= 4096
    assert cap["max_size_dream"] < cap["max_size"]
    assert memory.capacity(100_000, 1, "cpu", max_size=4096)["max_size"] == 4096
