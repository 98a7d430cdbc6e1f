"""`Prefer: wait` holds no thread: /healthz, /readyz and a job list answer fast while N forecasts wait.

    python benchmarks/prefer_wait.py                 # 40 waiting requests, wait=15, on a service it starts
    python benchmarks/prefer_wait.py --waiters 80 --wait 20

It starts the real service (redis-server, one worker, the API), then measures the latency of `/healthz`,
`/readyz` and `GET /v1/jobs` twice: idle (the peer), and while N `POST /v1/wave-forecasts` with
`Prefer: wait=W` are in flight (their jobs queue behind one worker, so most of them wait the whole W
seconds; the probes start once all N jobs are recorded, after the burst of submissions). It prints p50 / max
for each and the in-flight / idle ratio of the p50s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.stack import Stack  # noqa: E402

PROBES = ("/healthz", "/readyz", "/v1/jobs")
BODY = {  # the LSTM on the original waves: seconds of work each, so the queue stays long
    "waves": [
        {"offset": 5, "terms": [{"fn": "sin", "amplitude": 5, "period": 300, "phase": 0.2}]},
        {"offset": 7, "terms": [{"fn": "cos", "amplitude": 14, "period": 300, "phase": 0.2}]},
    ],
    "history": 3000,
    "horizon": 23,
    "model": "lstm",
}


async def probe(client: httpx.AsyncClient, rounds: int) -> dict[str, list[float]]:
    """Latency in ms of each probe path, `rounds` times, one request at a time."""
    times: dict[str, list[float]] = {p: [] for p in PROBES}
    for _ in range(rounds):
        for path in PROBES:
            t0 = time.perf_counter()
            r = await client.get(path)
            times[path].append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, (path, r.status_code, r.text)
        await asyncio.sleep(0.05)
    return times


async def accepted(client: httpx.AsyncClient, n: int) -> None:
    """Return once `n` jobs are recorded (their requests are then in their wait), or after 30 s."""
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline:
        if len((await client.get("/v1/jobs", params={"limit": n})).json()["jobs"]) >= n:
            return
        await asyncio.sleep(0.2)


async def waiter(client: httpx.AsyncClient, wait: int, seed: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    r = await client.post("/v1/wave-forecasts", json={**BODY, "seed": seed}, headers={"Prefer": f"wait={wait}"})
    return r.status_code, time.perf_counter() - t0


async def run(url: str, waiters: int, wait: int, rounds: int) -> None:
    limits = httpx.Limits(max_connections=waiters + 10)
    async with httpx.AsyncClient(base_url=url, timeout=wait + 30, limits=limits) as client:
        idle = await probe(client, rounds)
        tasks = [asyncio.create_task(waiter(client, wait, i)) for i in range(waiters)]
        await accepted(client, waiters)  # all of them submitted and waiting: the submissions' burst is over
        busy = await probe(client, rounds)
        in_flight = sum(not t.done() for t in tasks)
        results = await asyncio.gather(*tasks)
    codes = [c for c, _ in results]
    print(f"{waiters} requests with Prefer: wait={wait}; {in_flight} still waiting when the probes ended")
    print(f"answers: {codes.count(200)} x 200 (finished in time), {codes.count(202)} x 202 (still queued/running)")
    print(f"longest wait answered after {max(s for _, s in results):.1f} s\n")
    print(f"{'path':<10} {'idle p50':>9} {'idle max':>9} {'busy p50':>9} {'busy max':>9} {'ratio p50':>9}  (ms)")
    for path in PROBES:
        a, b = idle[path], busy[path]
        p50a, p50b = statistics.median(a), statistics.median(b)
        print(f"{path:<10} {p50a:9.1f} {max(a):9.1f} {p50b:9.1f} {max(b):9.1f} {p50b / p50a:9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--waiters", type=int, default=40)
    parser.add_argument("--wait", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=20, help="probes of each path, idle and busy")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp)).start()
        try:
            asyncio.run(run(stack.url, args.waiters, args.wait, args.rounds))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
