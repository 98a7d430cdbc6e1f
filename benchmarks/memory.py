"""Memory per request: the worker's peak RSS on nine 40-megapixel PNGs, and the API's under 12 such uploads.

    python benchmarks/memory.py                  # starts its own service (redis, one worker, the API)
    python benchmarks/memory.py --uploads 12 --width 7000 --height 5700

The images are one content and eight style PNGs of WIDTHxHEIGHT (a flat colour: ~120 KB each on the wire,
40 MP each decoded), submitted with `size=20` (the smallest size the default layers accept at that aspect).

- **Worker.** With the default pixel budget the API refuses them (413, from the headers). To measure what a
  worker does with them anyway, the service runs with `STYLEWAVE_MAX_REQUEST_PIXELS` raised; the worker's
  pool process's peak RSS (VmHWM) is read after a small job (the peer: same worker, 64x48 images) and again
  after the 9-image job, and their ratio is printed.
- **API.** `--uploads` concurrent submissions of the same nine images (accepted, so the API does all its work
  on them): the API process's RSS before, and its peak (VmHWM) after, and their ratio.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import make_content, make_style  # noqa: E402
from tests.stack import Stack, wait_for  # noqa: E402


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def vm(pid: int, field: str) -> int:
    """A /proc/PID/status figure (VmHWM: peak RSS, VmRSS: now), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def pool_pids(stack: Stack) -> list[int]:
    """The worker's pool processes (the ones that run jobs)."""
    worker = next(p for name, p in stack.procs if name.startswith("worker"))
    return [c.pid for c in psutil.Process(worker.pid).children(recursive=True)]


def api_pid(stack: Stack) -> int:
    return next(p.pid for name, p in stack.procs if name == "api")


def run_job(client: httpx.Client, files: list, size: int) -> dict:
    r = client.post("/v1/style-transfers", files=files, data={"size": str(size), "iterations": "3"})
    assert r.status_code == 202, r.text
    return wait_for(client, r.json()["id"], {"succeeded", "failed"}, timeout=600)


def mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=7000)
    parser.add_argument("--height", type=int, default=5700)
    parser.add_argument("--uploads", type=int, default=12)
    args = parser.parse_args()
    big = png(Image.new("RGB", (args.width, args.height), (120, 130, 140)))
    nine = [("content", ("c.png", big))] + [("style", (f"s{i}.png", big)) for i in range(8)]
    small = [("content", ("c.png", png(make_content()))), ("style", ("s.png", png(make_style())))]
    print(f"9 PNGs of {args.width}x{args.height}, {len(big):,} bytes each ({9 * len(big):,} in all)")
    env = {"STYLEWAVE_MAX_REQUEST_PIXELS": str(10 * args.width * args.height)}
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp), env=env).start()
        try:
            with httpx.Client(base_url=stack.url, timeout=600) as client:
                peer = run_job(client, small, 32)
                assert peer["status"] == "succeeded", peer
                small_peak = max(vm(p, "VmHWM") for p in pool_pids(stack))
                t0 = time.perf_counter()
                job = run_job(client, nine, 20)
                seconds = time.perf_counter() - t0
                assert job["status"] == "succeeded", job["error"]
                big_peak = max(vm(p, "VmHWM") for p in pool_pids(stack))
                print(f"\nworker pool process, peak RSS: small job {mb(small_peak)}, 9-image job {mb(big_peak)}")
                print(f"  ratio {big_peak / small_peak:.2f}; the 9-image job took {seconds:.1f} s end to end")

                api = api_pid(stack)
                before = vm(api, "VmRSS")
                with ThreadPoolExecutor(args.uploads) as pool:
                    posts = [
                        pool.submit(client.post, "/v1/style-transfers", files=nine, data={"size": "20"})
                        for _ in range(args.uploads)
                    ]
                    codes = [f.result().status_code for f in posts]
                peak = vm(api, "VmHWM")
                print(f"\nAPI process, {args.uploads} concurrent 9-image uploads (answers {sorted(set(codes))}):")
                print(f"  RSS before {mb(before)}, peak {mb(peak)}, ratio {peak / before:.2f}")
                for job in client.get("/v1/jobs").json()["jobs"]:
                    client.delete(f"/v1/jobs/{job['id']}")
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
