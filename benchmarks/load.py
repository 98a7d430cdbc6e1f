"""Load: poll one finished job with many connections; report requests/s, p50, p99 and errors.

    python benchmarks/load.py                      # starts its own service (redis, a worker, the API)
    python benchmarks/load.py --url http://127.0.0.1:8000 --connections 100 --seconds 15

The load generator is `wrk` (Debian package) when present: it is written in C, so it takes far less of
the machine's CPU from the server than a Python client would. Without it, an asyncio + httpx generator
is used, and the report says which.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.stack import Stack, wait_for  # noqa: E402


def finished_job(url: str) -> str:
    """Create a small forecast job (the harmonic baseline: fast) and wait for it to finish."""
    with httpx.Client(base_url=url, timeout=60) as c:
        body = {
            "waves": [{"offset": 1, "terms": [{"fn": "sin", "amplitude": 2, "period": 50, "phase": 0}]}],
            "history": 400,
            "horizon": 10,
            "model": "harmonic",
        }
        job_id = c.post("/v1/wave-forecasts", json=body).json()["id"]
        wait_for(c, job_id, {"succeeded"}, timeout=120)
        return job_id


def _ms(text: str) -> float:
    value, unit = float(re.match(r"[\d.]+", text).group()), re.sub(r"[\d.]", "", text)  # type: ignore[union-attr]
    return value * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def run_wrk(target: str, connections: int, seconds: int) -> dict[str, float | str]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", target],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return {
        "tool": "wrk",
        "requests": requests,
        "rps": requests / seconds,
        "p50_ms": _ms(lat["50"]),
        "p99_ms": _ms(lat["99"]),
        "errors": errors,
    }


async def _python_load(target: str, connections: int, seconds: int) -> dict[str, float | str]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def one_connection() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                try:
                    r = await client.get(target)
                    errors += r.status_code != 200
                except httpx.HTTPError:
                    errors += 1
                latencies.append((time.perf_counter() - t0) * 1e3)

        await asyncio.gather(*(one_connection() for _ in range(connections)))
    q = statistics.quantiles(latencies, n=100)
    return {
        "tool": "httpx",
        "requests": len(latencies),
        "rps": len(latencies) / seconds,
        "p50_ms": q[49],
        "p99_ms": q[98],
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running service; default: start one")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--api-processes", type=int, default=1, help="uvicorn processes when starting one")
    args = parser.parse_args()

    stack = None
    url = args.url
    if url is None:
        env = {"STYLEWAVE_API_PROCESSES": str(args.api_processes)}
        stack = Stack(Path(tempfile.mkdtemp(prefix="stylewave-load-")), env=env).start()
        url = stack.url
    try:
        target = f"{url}/v1/jobs/{finished_job(url)}"
        if shutil.which("wrk"):
            report = run_wrk(target, args.connections, args.seconds)
        else:
            report = asyncio.run(_python_load(target, args.connections, args.seconds))
    finally:
        if stack is not None:
            stack.stop()
    print(
        f"GET /v1/jobs/{{id}} of a finished job, {args.connections} connections, {args.seconds} s "
        f"({report['tool']}, {args.api_processes} API process(es))"
    )
    print(
        f"requests/s {report['rps']:.0f}   p50 {report['p50_ms']:.2f} ms   p99 {report['p99_ms']:.2f} ms   "
        f"errors {report['errors']} of {report['requests']}"
    )


if __name__ == "__main__":
    main()
