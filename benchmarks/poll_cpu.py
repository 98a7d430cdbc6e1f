"""The API's CPU time per poll of `GET /v1/jobs/{id}`: the polling fast path against the framework's route.

    python benchmarks/poll_cpu.py                          # 1,000 req/s from 100 and from 10 connections, 10 s each
    python benchmarks/poll_cpu.py --rate 1000 --connections 100 --seconds 20 --api-processes 2

CPU time is steadier than latency on a shared machine: it barely moves with the load beside the benchmark,
while a p99 does. The script starts redis-server and the API (no worker: it finishes a forecast job itself,
through the store, as a worker would), polls that job with `hey -c C -q R/C` (Debian package `hey`)
through the fast path (`app/fastpath.py`) and through the framework's route (the same URL plus a query string,
which the fast path leaves alone), and reads the API processes' user + system CPU seconds from
`/proc/PID/stat` before and after each run. It prints µs of API CPU per poll, p50/p99 and the ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.embedded import free_port, shutdown, start_redis  # noqa: E402
from app.schemas import WorkerInfo  # noqa: E402
from app.store import JobStore  # noqa: E402
from tests.stack import poll_ok  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
API_KEY = "bench-key"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and of its children alive now, from /proc (clock ticks to seconds)."""
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat(5))
    return total / TICKS


def finished_job(url: str, redis_url: str) -> str:
    """A forecast job, submitted over HTTP (so that its owner is the key's) and finished through the store."""
    body = {
        "waves": [{"offset": 1, "terms": [{"fn": "sin", "amplitude": 2, "period": 50, "phase": 0}]}],
        "history": 400,
        "horizon": 10,
        "model": "harmonic",
    }
    headers = {"Authorization": f"Bearer {API_KEY}"}
    response = httpx.post(f"{url}/v1/wave-forecasts", json=body, headers=headers, timeout=30)
    response.raise_for_status()
    job_id = str(response.json()["id"])
    store = JobStore.from_url(redis_url, 3600)
    store.start(job_id, WorkerInfo(host="bench", pid=os.getpid()))
    store.succeed(job_id, {"model": "harmonic", "train_seconds": 0.01}, {"result": b"{}"})
    return job_id


def run_hey(target: str, connections: int, rate: int, seconds: int) -> dict[str, float]:
    """`hey` at an offered `rate` from `connections` connections; p50/p99 in ms and the count of non-200s."""
    argv = [
        "hey",
        "-z",
        f"{seconds}s",
        "-c",
        str(connections),
        "-q",
        f"{rate / connections:g}",
        "-o",
        "csv",
        "-H",
        f"Authorization: Bearer {API_KEY}",
        target,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rows = [line.split(",") for line in out.splitlines()[1:] if line and line[0].isdigit()]
    latencies = sorted(float(r[0]) * 1e3 for r in rows)

    def q(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))]

    return {"requests": len(rows), "p50": q(0.5), "p99": q(0.99), "errors": sum(r[6] != "200" for r in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=1000, help="offered requests/s in all")
    parser.add_argument("--connections", default="100,10", help="comma list")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--api-processes", type=int, default=1)
    parser.add_argument("--paths", default="fast,framework", help="fast, framework, or both")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="stylewave-pollcpu-"))
    redis_proc, redis_url = start_redis(data)
    procs = [("redis", redis_proc)]
    try:
        port = free_port()
        env = dict(
            os.environ,
            STYLEWAVE_REDIS_URL=redis_url,
            STYLEWAVE_DATA_DIR=str(data),
            STYLEWAVE_API_KEYS=API_KEY,
            STYLEWAVE_API_PROCESSES=str(args.api_processes),
        )
        log = open(data / "api.log", "ab")  # noqa: SIM115 - closed with the process
        argv = [sys.executable, "-m", "app.cli", "api", "--host", "127.0.0.1", "--port", str(port)]
        api = subprocess.Popen(argv, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(("api", api))
        url = f"http://127.0.0.1:{port}"
        if not poll_ok(url + "/healthz", 60):
            raise RuntimeError((data / "api.log").read_text())
        target = f"{url}/v1/jobs/{finished_job(url, redis_url)}"
        run_hey(target, 10, 200, 1)  # warm up both paths (imports, connections)
        run_hey(target + "?via=framework", 10, 200, 1)
        with open("/proc/loadavg") as f:
            print(f"load average before: {f.read().split()[:3]}; {args.api_processes} API process(es)")
        print("| path | offered req/s | connections | polls | API CPU / poll | p50 ms | p99 ms | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for connections in [int(c) for c in args.connections.split(",")]:
            per_poll = {}
            for name in args.paths.split(","):
                path = target if name == "fast" else target + "?via=framework"
                before = cpu_seconds(api.pid)
                r = run_hey(path, connections, args.rate, args.seconds)
                per_poll[name] = 1e6 * (cpu_seconds(api.pid) - before) / max(r["requests"], 1)
                print(
                    f"| {name} | {args.rate} | {connections} | {r['requests']:.0f} | {per_poll[name]:.0f} µs | "
                    f"{r['p50']:.2f} | {r['p99']:.2f} | {r['errors']:.0f} |",
                    flush=True,
                )
            if len(per_poll) == 2:
                print(
                    f"framework / fast path CPU per poll, {connections} connections: "
                    f"{per_poll['framework'] / per_poll['fast']:.2f}x"
                )
        with open("/proc/loadavg") as f:
            print(f"load average after: {f.read().split()[:3]}")
    finally:
        shutdown(procs, grace=5)
        time.sleep(0.2)


if __name__ == "__main__":
    main()
