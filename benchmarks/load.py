"""Load: poll one finished job with many connections; report requests/s, p50, p99 and errors.

    python benchmarks/load.py                      # starts its own service (redis, a worker, the API)
    python benchmarks/load.py --url http://127.0.0.1:8000 --connections 100 --seconds 15
    python benchmarks/load.py --rates 250,500,1000,2000 --seconds 10   # offered rates, from 10 and 100 conns
    python benchmarks/load.py --sse 100 CONTENT STYLE   # 100 clients follow a style job: SSE vs polling

`--rates` runs `hey -c C -q R/C` (Debian package `hey`; its `-q` is per connection) for each offered rate R
from 10 and from 100 connections, and reads every request's latency (`-o csv`) for p50, p99 and p99.9. Each is
run against the fast path, the framework's route, and a floor: a server of its own process that answers every
request with a fixed response of the poll's size (uvloop, no framework, no Redis), so that what the generator,
the kernel and the sharing of the 2 cores cost alone is measured in the same run.

`--sse N` runs the same style job twice on the service it started: once followed by N event-stream clients
to its end, once polled by N clients at 10 requests/s each (`hey`, for as long as the first run took), and
reports the API's CPU seconds for each, and their ratio.

The load generator is `wrk` (Debian package) when present: it is written in C, so it takes far less of
the machine's CPU from the server than a Python client would. Without it, an asyncio + httpx generator
is used, and the report says which.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.embedded import free_port  # noqa: E402
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


def run_hey(target: str, connections: int, rate: int, seconds: int) -> dict[str, float]:
    """An offered `rate` (requests/s in all) from `connections` connections; latency quantiles in ms."""
    per_connection = rate / connections  # hey takes a fractional per-connection rate
    out = subprocess.run(
        ["hey", "-z", f"{seconds}s", "-c", str(connections), "-q", f"{per_connection:g}", "-o", "csv", target],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split(",") for line in out.splitlines()[1:] if line and line[0].isdigit()]
    latencies = sorted(float(r[0]) * 1e3 for r in rows)
    errors = sum(1 for r in rows if r[6] != "200")

    def q(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))]

    return {
        "offered": per_connection * connections,
        "connections": connections,
        "rps": len(rows) / seconds,
        "p50": q(0.50),
        "p99": q(0.99),
        "p999": q(0.999),
        "errors": errors,
        "requests": len(rows),
    }


class _FixedResponse(asyncio.Protocol):
    """Answers each request (a header block: these requests have no body) with the same response."""

    def __init__(self, response: bytes) -> None:
        self.response, self.buffer = response, b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if ends := self.buffer.count(b"\r\n\r\n"):
            self.buffer = self.buffer.rsplit(b"\r\n\r\n", 1)[1]
            self.transport.write(self.response * ends)


def _serve_fixed(port: int, body: bytes) -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _FixedResponse(head + body), "127.0.0.1", port, backlog=2048)
        await server.serve_forever()

    try:
        import uvloop

        uvloop.run(serve())
    except ImportError:
        asyncio.run(serve())


def fixed_server(body: bytes) -> tuple[str, multiprocessing.Process]:
    """The floor's server, in a process of its own; its URL, and the process to stop."""
    port = free_port()
    proc = multiprocessing.get_context("spawn").Process(target=_serve_fixed, args=(port, body), daemon=True)
    proc.start()
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url, timeout=1)
            return url, proc
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def rate_matrix(url: str, rates: list[int], seconds: int, api: psutil.Process | None) -> None:
    """Each offered rate from 10 and 100 connections; with `api`, the API's CPU time per request too."""
    target = f"{url}/v1/jobs/{finished_job(url)}"
    floor, floor_proc = fixed_server(httpx.get(target).content)
    print(f"GET /v1/jobs/{{id}} of a finished job, {seconds} s per run (hey -c C -q R/C)")
    print(
        "| path | offered req/s | connections | achieved req/s | p50 ms | p99 ms | p99.9 ms | API CPU/request "
        "| errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    # The same request with a query string skips the fast path (app/fastpath.py): the framework's own route.
    paths = [("fast path", target, api), ("framework", target + "?via=framework", api), ("floor", floor, None)]
    try:
        _rate_rows(paths, rates, seconds)
    finally:
        floor_proc.terminate()


def _rate_rows(paths: list[tuple[str, str, psutil.Process | None]], rates: list[int], seconds: int) -> None:
    """One row per rate, connections and path; `api`: the process whose CPU time that path costs, if known."""
    for rate in rates:
        for connections in (10, 100):
            for name, path, api in paths:
                before = cpu_seconds(api) if api else 0.0
                r = run_hey(path, connections, rate, seconds)
                cpu = f"{1e6 * (cpu_seconds(api) - before) / max(r['requests'], 1):.0f} µs" if api else ""
                print(
                    f"| {name} | {r['offered']:.0f} | {connections} | {r['rps']:.0f} | {r['p50']:.2f} | "
                    f"{r['p99']:.2f} | {r['p999']:.2f} | {cpu} | {r['errors']:.0f} of {r['requests']:.0f} |",
                    flush=True,
                )


def api_process(stack: Stack) -> psutil.Process:
    """The API's process (uvicorn; its children are the serving processes when there are several)."""
    return psutil.Process(next(p.pid for name, p in stack.procs if name == "api"))


def cpu_seconds(proc: psutil.Process) -> float:
    """User + system CPU seconds of a process and its children, alive now."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        times = p.cpu_times()
        total += times.user + times.system
    return total


def submit_style(url: str, content: Path, style: Path, size: int, iterations: int) -> str:
    files = [("content", (content.name, content.read_bytes())), ("style", (style.name, style.read_bytes()))]
    data = {"size": str(size), "iterations": str(iterations)}
    response = httpx.post(f"{url}/v1/style-transfers", files=files, data=data, timeout=60)
    response.raise_for_status()
    return str(response.json()["id"])


async def _follow_sse(client: httpx.AsyncClient, url: str) -> int:
    events = 0
    async with client.stream("GET", url, timeout=None) as response:
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                events += 1
                if line.strip() == "event: done":
                    break
    return events


async def _clients(n: int, make: Any) -> list[int]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        return list(await asyncio.gather(*(make(client) for _ in range(n))))


def sse_vs_polling(stack: Stack, n: int, content: Path, style: Path, size: int, iterations: int) -> None:
    """N clients follow a running style job over SSE to its end; then N poll another one at 10 requests/s each
    (with `hey`, for as long as the first job ran). The API's CPU seconds for each, and their ratio."""
    api = api_process(stack)
    job = submit_style(stack.url, content, style, size, iterations)
    before, t0 = cpu_seconds(api), time.monotonic()
    counts = asyncio.run(_clients(n, lambda c: _follow_sse(c, f"{stack.url}/v1/jobs/{job}/events")))
    sse_cpu, wall = cpu_seconds(api) - before, time.monotonic() - t0
    print(
        f"sse : {n} clients to the end of a {wall:.1f} s job: API CPU {sse_cpu:.2f} s ({100 * sse_cpu / wall:.1f}% "
        f"of one core); {sum(counts)} events in all, {min(counts)}-{max(counts)} per client",
        flush=True,
    )

    job = submit_style(stack.url, content, style, size, iterations)
    before = cpu_seconds(api)
    polled = run_hey(f"{stack.url}/v1/jobs/{job}", n, 10 * n, max(1, round(wall)))
    poll_cpu = cpu_seconds(api) - before
    print(
        f"poll: {n} clients at 10/s for {round(wall)} s: API CPU {poll_cpu:.2f} s ({100 * poll_cpu / wall:.1f}% of "
        f"one core); {polled['requests']:.0f} polls, p50 {polled['p50']:.1f} ms, p99 {polled['p99']:.1f} ms",
        flush=True,
    )
    print(f"polling / SSE API CPU: {poll_cpu / max(sse_cpu, 1e-9):.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running service; default: start one")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--api-processes", type=int, default=1, help="uvicorn processes when starting one")
    parser.add_argument("--rates", help="comma list of offered requests/s, each from 10 and 100 connections")
    parser.add_argument("--sse", type=int, metavar="N", help="N clients follow a running style job")
    parser.add_argument("images", nargs="*", type=Path, help="CONTENT STYLE images for --sse")
    parser.add_argument("--size", type=int, default=256, help="style job size for --sse")
    parser.add_argument("--iterations", type=int, default=60, help="style job iterations for --sse")
    args = parser.parse_args()
    if args.sse and len(args.images) != 2:
        parser.error("--sse needs CONTENT and STYLE image paths")

    stack = None
    url = args.url
    if url is None:
        env = {"STYLEWAVE_API_PROCESSES": str(args.api_processes)}
        stack = Stack(Path(tempfile.mkdtemp(prefix="stylewave-load-")), env=env).start()
        url = stack.url
    try:
        if args.rates:
            rate_matrix(
                url, [int(r) for r in args.rates.split(",")], args.seconds, api_process(stack) if stack else None
            )
            return
        if args.sse:
            assert stack is not None, "--sse measures the API process it starts: no --url"
            sse_vs_polling(stack, args.sse, args.images[0], args.images[1], args.size, args.iterations)
            return
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
