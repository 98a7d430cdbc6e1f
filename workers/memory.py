"""How much memory a style job may plan for, and the largest output this worker can plan within it.

The budget of one job is the worker's memory divided among its job processes: `STYLEWAVE_WORKER_MEMORY_MB`
when set, otherwise what the machine gives this process (a container's cgroup limit, else the RAM), or the
GPU's free memory on CUDA. At the start of a job it is also capped by what is free at that moment (memory
this process already holds counts as free to it), so a job plans smaller tiles on a busy machine rather
than being killed by the OOM killer.
"""

from __future__ import annotations

import os
from pathlib import Path

from models.nst.plan import largest_size

MB = 2**20
# What the plan may use of the machine when no setting says: the rest is left to the OS and other processes.
MACHINE_SHARE = 0.8
_CGROUP = Path("/sys/fs/cgroup")
_UNLIMITED = 2**60  # cgroup v1 says "no limit" with a huge number


def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes ({} where there is none)."""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            out[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return out


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (cgroup v2) means no limit


def cgroup_memory(root: Path = _CGROUP, proc_cgroup: Path = Path("/proc/self/cgroup")) -> tuple[int | None, int | None]:
    """(limit, usage) in bytes of the tightest memory cgroup above this process (v2 or v1); (None, None) if none.

    A limit may sit on the process's own cgroup or on any ancestor (a container's); inside a container the
    controller may also be mounted with the container's own cgroup at its root.
    """
    best: tuple[int | None, int | None] = (None, None)
    for folder, limit_file, usage_file in _candidates(root, proc_cgroup):
        limit = _read_int(folder / limit_file)
        if limit is not None and limit < _UNLIMITED and (best[0] is None or limit < best[0]):
            best = (limit, _read_int(folder / usage_file))
    return best


def _candidates(root: Path, proc_cgroup: Path) -> list[tuple[Path, str, str]]:
    """The cgroup folders to look at, each with its limit and usage file names (v2, v1)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    out: list[tuple[Path, str, str]] = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2, unified
            base, files = root, ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):  # cgroup v1, the memory controller
            base, files = root / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        parts = [p for p in path.split("/") if p]
        out += [(base.joinpath(*parts[:i]), *files) for i in range(len(parts), -1, -1)]
    return out


def rss_bytes() -> int:
    """This process's resident memory now."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def machine_bytes() -> int:
    """What this process may use at most: its cgroup's limit, else the machine's RAM."""
    limit, _ = cgroup_memory()
    total = meminfo().get("MemTotal", 0)
    return min(x for x in (limit, total or None, _UNLIMITED) if x is not None)


def free_bytes() -> int:
    """What this process could still use now: free memory (cgroup and machine) plus what it already holds."""
    limit, usage = cgroup_memory()
    candidates = [meminfo().get("MemAvailable", _UNLIMITED)]
    if limit is not None and usage is not None:
        candidates.append(max(0, limit - usage))
    return min(candidates) + rss_bytes()


def worker_budget(setting_mb: int | None, processes: int, device: str) -> int:
    """One job's share of the worker's memory, in bytes (the setting, else the machine or the GPU)."""
    if setting_mb is not None:
        total = setting_mb * MB
    elif device.startswith("cuda"):
        import torch

        total = int(torch.cuda.mem_get_info()[1] * MACHINE_SHARE)
    else:
        total = int(machine_bytes() * MACHINE_SHARE)
    return total // max(1, processes)


def job_budget(setting_mb: int | None, processes: int, device: str) -> int:
    """The budget one job plans with now: its share, capped by what is free at this moment."""
    from models.nst import resolve_device

    device = resolve_device(device)
    share = worker_budget(setting_mb, processes, device)
    if device.startswith("cuda"):
        import torch

        return min(share, int(torch.cuda.mem_get_info()[0]))
    return min(share, free_bytes())


def capacity(setting_mb: int | None, processes: int, device: str, max_size: int) -> dict[str, int]:
    """What this worker publishes with its heartbeat: its per-job memory and the largest size it can plan."""
    budget = worker_budget(setting_mb, processes, device)
    return {
        "memory_mb": budget // MB,
        "max_size": largest_size(budget, max_size),
        "max_size_dream": largest_size(budget, max_size, tiled=False),
    }
