"""The security review's attacks, replayed against the real service, each of which must now fail safely.

One test (or a few) per finding of the review, named after it. The local-user attack on the embedded Redis
(as `nobody`, with `setpriv`) is in tests/security/test_local_user.py, beside the embedded server it tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from PIL import Image

from app.fastpath import PollFastPath
from app.main import create_app, create_server_app
from app.queue import STYLE_TASK, make_celery
from app.schemas import JobKind, StyleTransferParams
from app.settings import Settings
from app.store import JobStore
from tests.conftest import make_content, make_style
from tests.stack import Stack, wait_for


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def submit(client: httpx.Client, files: list, **fields: object) -> httpx.Response:
    return client.post("/v1/style-transfers", files=files, data={k: str(v) for k, v in fields.items()})


def pair() -> list:
    return [("content", ("c.png", png(make_content()))), ("style", ("s.png", png(make_style())))]


# ---- 1. A forged task message beyond the API's limits ------------------------------------------------------------


def test_a_forged_message_with_20000_iterations_is_refused_and_fails_its_job(
    client: httpx.Client, service: Stack
) -> None:
    store = JobStore.from_url(service.redis_url, 600)
    params = StyleTransferParams().model_dump(mode="json") | {"iterations": 20_000}
    inputs = {"content": png(make_content()), "style0": png(make_style())}
    job = store.create(JobKind.style_transfer, params, "public", inputs)  # as one with Redis access would
    make_celery(Settings(redis_url=service.redis_url)).send_task(STYLE_TASK, args=[job.id, params], queue="style")
    done = wait_for(client, job.id, {"succeeded", "failed", "canceled"}, timeout=60)
    assert done["status"] == "failed" and done["error"]["code"] == "invalid_params", done
    assert "iterations" in done["error"]["message"]


def test_a_message_the_worker_cannot_use_never_leaves_its_job_queued(client: httpx.Client, service: Stack) -> None:
    store = JobStore.from_url(service.redis_url, 600)
    celery = make_celery(Settings(redis_url=service.redis_url))
    broken = {"size": "huge"}
    no_images = StyleTransferParams().model_dump(mode="json")
    ids = []
    for params in (broken, no_images):
        job = store.create(JobKind.style_transfer, params, "public")
        celery.send_task(STYLE_TASK, args=[job.id, params], queue="style")
        ids.append(job.id)
    for job_id in ids:
        done = wait_for(client, job_id, {"succeeded", "failed", "canceled"}, timeout=60)
        assert done["status"] == "failed" and done["error"]["code"] == "invalid_params", done


# ---- 2. Small uploads that cost gigabytes --------------------------------------------------------------------------


def test_nine_40_megapixel_pngs_are_refused_from_their_headers(client: httpx.Client) -> None:
    big = png(Image.new("RGB", (7000, 5700), (120, 130, 140)))
    assert len(big) < 1_000_000  # a few hundred KB on the wire, 40 megapixels each once decoded
    files = [("content", ("c.png", big))] + [("style", (f"s{i}.png", big)) for i in range(8)]
    t0 = time.monotonic()
    r = submit(client, files, size=20)
    assert r.status_code == 413, r.text
    assert "together" in r.text and "style" in r.text
    assert time.monotonic() - t0 < 10
    assert client.get("/healthz").status_code == 200


# ---- 3. The README's layer sweep ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [{"sweep_style_layers": "conv1_1|conv1_1+conv2_1"}, {"sweep_style_weights": "1,3,10,30"}],
    ids=["layers", "weights"],
)
def test_the_readme_sweeps_run_to_a_grid(client: httpx.Client, fields: dict) -> None:
    r = submit(client, pair(), size=32, iterations=4, scales=1, **fields)
    assert r.status_code == 202, r.text
    done = wait_for(client, r.json()["id"], {"succeeded", "failed"}, timeout=180)
    assert done["status"] == "succeeded", done["error"]
    n = len(next(iter(fields.values())).replace("|", ",").split(","))
    assert len(done["metrics"]["tiles"]) == n
    assert client.get(f"/v1/jobs/{done['id']}/tiles/{n - 1}").status_code == 200


# ---- 7. Ids that are not ids, errors, sizes, headers, the Host, /docs, the JSON cap ------------------------------


def test_an_id_with_a_key_suffix_is_404_on_every_route(client: httpx.Client) -> None:
    r = client.post("/v1/wave-forecasts", json={"series": [[float(i % 7)] for i in range(200)], "horizon": 3})
    job_id = r.json()["id"]
    for bad in (f"{job_id}:result", f"{job_id}:in:content", job_id.upper(), "*", "%2A"):
        for path in ("", "/result", "/events", "/tiles/0", "/preview", "/plot"):
            got = client.get(f"/v1/jobs/{bad}{path}")
            assert got.status_code == 404, (bad, path, got.status_code, got.text)
        assert client.delete(f"/v1/jobs/{bad}").status_code == 404


def test_the_smallest_size_works_and_a_smaller_one_is_refused_at_the_edge(client: httpx.Client) -> None:
    refused = submit(client, pair(), size=16)  # a 64x48 content: 16x12, too small for conv5_1
    assert refused.status_code == 422 and "size" in refused.text and "size >= 21" in refused.text
    r = submit(client, pair(), size=21, iterations=3)
    assert r.status_code == 202, r.text
    done = wait_for(client, r.json()["id"], {"succeeded", "failed"}, timeout=120)
    assert done["status"] == "succeeded", done["error"]


def test_the_page_and_results_carry_the_protective_headers(client: httpx.Client) -> None:
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    job = client.post("/v1/wave-forecasts", json={"series": [[float(i % 5)] for i in range(200)], "horizon": 3})
    done = wait_for(client, job.json()["id"], {"succeeded"}, timeout=120)
    for path in ("", "/result", "/plot"):
        r = client.get(f"/v1/jobs/{done['id']}{path}")
        assert r.status_code == 200 and r.headers["cache-control"] == "private, no-store", path
        assert r.headers["x-content-type-options"] == "nosniff"


def test_a_foreign_host_header_is_refused(service: Stack) -> None:
    for host in ("evil.example", "127.0.0.1.evil.example", ""):
        r = httpx.get(service.url + "/v1/jobs", headers={"Host": host})
        assert r.status_code == 400 and "STYLEWAVE_ALLOWED_HOSTS" in r.text, host
    port = service.url.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        assert httpx.get(service.url + "/v1/jobs", headers={"Host": host}).status_code == 200, host
    assert httpx.get(service.url + "/healthz", headers={"Host": "10.1.2.3:8000"}).status_code == 200  # probes


def test_docs_come_from_the_service_and_name_no_other_host(client: httpx.Client) -> None:
    html = client.get("/docs").text
    assert "//" not in html  # no http://, https:// or protocol-relative address
    for asset in ("docs-assets/swagger-ui-bundle.js", "docs-assets/swagger-ui.css", "docs-init.js"):
        assert client.get("/" + asset).status_code == 200, asset
    assert client.get("/redoc").status_code == 404


def test_a_json_body_over_the_cap_is_413_with_or_without_a_length(client: httpx.Client, service: Stack) -> None:
    limit = Settings().max_json_bytes
    body = b'{"series": [' + b"[1.0]," * (limit // 6) + b"[1.0]]}"
    sized = client.post("/v1/wave-forecasts", content=body, headers={"Content-Type": "application/json"})
    assert sized.status_code == 413 and "exceeds the limit" in sized.json()["detail"]

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536]

    streamed = client.post("/v1/wave-forecasts", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413 and "detail" in streamed.json()


def test_a_csv_body_over_the_json_cap_is_413_as_text_or_as_a_form(client: httpx.Client) -> None:
    """A CSV request becomes a JSON one (app/csv_body.py), so the JSON cap holds for it too, not the upload cap."""
    limit = Settings().max_json_bytes
    csv = b"v\n" + b"1.5\n" * ((limit + 128 * 1024) // 4)  # past the room the form gets for its fields
    text = client.post("/v1/wave-forecasts", content=csv, headers={"Content-Type": "text/csv"})
    assert text.status_code == 413 and "STYLEWAVE_MAX_JSON_BYTES" in text.json()["detail"], text.text
    form = client.post("/v1/wave-forecasts", files={"series": ("s.csv", csv, "text/csv")}, data={"horizon": "3"})
    assert form.status_code == 413 and "STYLEWAVE_MAX_JSON_BYTES" in form.json()["detail"], form.text
    small = b"v\n" + b"1.5\n" * 200
    ok = client.post("/v1/wave-forecasts", files={"series": ("s.csv", small, "text/csv")}, data={"horizon": "3"})
    assert ok.status_code == 202, ok.text


def test_a_redis_failure_answers_without_its_details(service: Stack) -> None:
    """The review saw raw exception text in answers; now a 503 says what happened and gives an error id."""
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0"))

    async def calls() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            return [await c.get("/v1/jobs"), await c.get("/readyz")]  # /readyz answers anyone: no details either

    for r in asyncio.run(calls()):
        assert r.status_code == 503 and "error id err_" in r.json()["detail"], r.request.url
        assert "127.0.0.1:1" not in r.text and "Errno" not in r.text and "onnect" not in r.text, r.request.url


@pytest.mark.parametrize("keys", ["", "k"])
def test_the_poll_fast_path_answers_a_redis_failure_without_its_details(keys: str) -> None:
    """`GET /v1/jobs/{id}` (app/fastpath.py) too: with keys set, even the owner id's secret needs Redis."""
    server = create_server_app(Settings(redis_url="redis://127.0.0.1:1/0", api_keys=keys))

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(server), base_url="http://127.0.0.1") as c:
            return await c.get("/v1/jobs/" + "0" * 32, headers={"Authorization": "Bearer k"})

    r = asyncio.run(call())
    assert r.status_code == 503 and "error id err_" in r.json()["detail"] and r.headers["retry-after"]
    assert "127.0.0.1:1" not in r.text and "Errno" not in r.text


# ---- 5. Storage: inputs do not outlive their job -------------------------------------------------------------------


def test_a_canceled_jobs_uploads_are_deleted_at_once(client: httpx.Client, service: Stack) -> None:
    r = submit(client, pair(), size=64, iterations=5000)
    job_id = r.json()["id"]
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
    keys = redis.Redis.from_url(service.redis_url).keys(f"sw:job:{job_id}:in*")
    assert keys == []


def test_above_the_high_water_mark_new_jobs_get_507_and_nothing_is_enqueued(service: Stack) -> None:
    """Redis runs with maxmemory and noeviction; the API refuses new work above the mark instead of letting Redis
    fail. The mark is set below what Redis already holds here, as a nearly full store would be."""
    info = redis.Redis.from_url(service.redis_url).info("memory")
    assert int(info["maxmemory"]) > 0 and info["maxmemory_policy"] == "noeviction"
    mark = int(info["used_memory"]) / int(info["maxmemory"]) / 2
    app = create_app(Settings(redis_url=service.redis_url, store_high_water=mark))
    store = JobStore.from_url(service.redis_url, 600)
    before = store.queued_count()

    async def calls() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            series = {"series": [[float(i % 5)] for i in range(200)], "horizon": 3}
            return [
                await c.post("/v1/style-transfers", files=pair(), data={"size": "32"}),
                await c.post("/v1/wave-forecasts", json=series),
            ]

    for r in asyncio.run(calls()):
        assert r.status_code == 507 and "nearly full" in r.json()["detail"] and int(r.headers["retry-after"]) > 0
    assert store.queued_count() == before


# ---- 5. Fairness, 6. keys: the per-key share, /metrics, owner ids, the model cache -------------------------------

KEYS = ("key-a", "key-b", "key-c")


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"STYLEWAVE_API_KEYS": ",".join(KEYS), "STYLEWAVE_MAX_QUEUED": "10"}
    stack = Stack(tmp_path_factory.mktemp("locked"), env=env, workers=0).start()
    yield stack
    stack.stop()


def as_key(stack: Stack, key: str) -> httpx.Client:
    return httpx.Client(base_url=stack.url, timeout=30, headers={"Authorization": f"Bearer {key}"})


def test_one_key_filling_its_share_does_not_lock_out_another(locked: Stack) -> None:
    series = {"series": [[float(i % 7)] for i in range(200)], "horizon": 3}
    with as_key(locked, "key-a") as a, as_key(locked, "key-b") as b:
        codes = [a.post("/v1/wave-forecasts", json=series).status_code for _ in range(7)]
        assert codes == [202] * 5 + [429] * 2, codes  # half of STYLEWAVE_MAX_QUEUED=10
        refused = a.post("/v1/wave-forecasts", json=series)
        assert "share" in refused.json()["detail"] and refused.headers["retry-after"]
        assert b.post("/v1/wave-forecasts", json=series).status_code == 202
        for job in a.get("/v1/jobs").json()["jobs"]:
            a.delete(f"/v1/jobs/{job['id']}")
        assert a.post("/v1/wave-forecasts", json=series).status_code == 202  # canceled jobs free the share


def test_metrics_need_a_key_when_keys_are_set(locked: Stack) -> None:
    assert httpx.get(locked.url + "/metrics").status_code == 401
    with as_key(locked, "key-a") as a:
        assert a.get("/metrics").status_code == 200


def test_metrics_can_be_made_public(locked: Stack) -> None:
    app = create_app(Settings(redis_url=locked.redis_url, api_keys="k", metrics_public=True))

    async def call() -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as c:
            return (await c.get("/metrics")).status_code

    assert asyncio.run(call()) == 200


def test_owner_ids_are_keyed_hashes_and_old_jobs_move_to_them(locked: Stack) -> None:
    r = redis.Redis.from_url(locked.redis_url)
    legacy = hashlib.sha256(b"key-c").hexdigest()[:32]
    store = JobStore.from_url(locked.redis_url, 600)
    old = store.create(JobKind.wave_forecast, {"horizon": 3}, legacy)  # as a pre-HMAC version stored it
    with as_key(locked, "key-c") as c:
        listed = [j["id"] for j in c.get("/v1/jobs").json()["jobs"]]
        assert old.id in listed and c.get(f"/v1/jobs/{old.id}").status_code == 200
        new_id = c.post("/v1/wave-forecasts", json={"series": [[1.0]] * 200, "horizon": 3}).json()["id"]
    owner = json.loads(r.get(f"sw:job:{new_id}"))["owner"]
    assert owner != legacy and len(owner) == 32 and json.loads(r.get(f"sw:job:{old.id}"))["owner"] == owner
    assert not r.exists(f"sw:owner:{legacy}")


def test_the_poll_fast_path_sits_inside_the_host_check_and_headers(locked: Stack) -> None:
    """`GET /v1/jobs/{id}` is answered in front of the framework (app/fastpath.py), but inside app/security.py.

    The framework behind this server app is replaced by one that fails, so every answer checked is the fast
    path's own: the headers, the foreign Host, and the owner by its HMAC id (a job of key-c, submitted through
    the running service, is key-c's here and nobody else's).
    """
    with as_key(locked, "key-c") as c:
        job_id = c.post("/v1/wave-forecasts", json={"series": [[1.0]] * 200, "horizon": 3}).json()["id"]
    server = create_server_app(Settings(redis_url=locked.redis_url, api_keys=",".join(KEYS)))

    async def no_framework(scope: object, receive: object, send: object) -> None:
        raise AssertionError("the fast path passed this request on")

    fast = server.app
    assert isinstance(fast, PollFastPath)
    fast.app = no_framework  # type: ignore[assignment]

    async def calls() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(server), base_url="http://127.0.0.1") as c:
            path = f"/v1/jobs/{job_id}"
            return [
                await c.get(path, headers={"Authorization": "Bearer key-c"}),
                await c.get(path, headers={"Authorization": "Bearer key-a"}),
                await c.get(path),
                await c.get(path, headers={"Authorization": "Bearer key-c", "Host": "evil.example"}),
            ]

    mine, others, anonymous, foreign = asyncio.run(calls())
    assert mine.status_code == 200 and mine.json()["id"] == job_id, mine.text
    assert others.status_code == 404 and anonymous.status_code == 401
    assert foreign.status_code == 400 and "STYLEWAVE_ALLOWED_HOSTS" in foreign.text
    for r in (mine, others, anonymous, foreign):
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["cache-control"] == "private, no-store"
    with as_key(locked, "key-c") as c:
        c.delete(f"/v1/jobs/{job_id}")


def test_a_malformed_job_id_is_404_at_the_served_app_with_its_headers(locked: Stack) -> None:
    """Ids the fast path does not take go to the routes, whose strict id check answers 404 (uvicorn in between)."""
    with as_key(locked, "key-c") as c:
        job_id = c.post("/v1/wave-forecasts", json={"series": [[1.0]] * 200, "horizon": 3}).json()["id"]
        for bad in (f"{job_id}:result", job_id.upper(), job_id[:31], job_id + "0", "%2A"):
            r = c.get(f"/v1/jobs/{bad}")
            assert r.status_code == 404 and r.headers["x-content-type-options"] == "nosniff", bad
            assert r.headers["cache-control"] == "private, no-store", bad
        assert c.get(f"/v1/jobs/{job_id}").status_code == 200
        c.delete(f"/v1/jobs/{job_id}")


def test_the_model_cache_is_per_key(locked: Stack) -> None:
    body = {"series": [[float((i * 7) % 23), float(i % 5)] for i in range(400)], "horizon": 5, "model": "lstm"}
    locked.start_worker(name="cache@%h")
    try:
        with as_key(locked, "key-a") as a, as_key(locked, "key-b") as b:
            for client in (a, b):  # the fairness test's jobs, still queued: out of the worker's way
                for job in client.get("/v1/jobs").json()["jobs"]:
                    if job["status"] == "queued":
                        client.delete(f"/v1/jobs/{job['id']}")
            first = wait_for(a, a.post("/v1/wave-forecasts", json=body).json()["id"], {"succeeded"}, 180)
            again = wait_for(a, a.post("/v1/wave-forecasts", json=body).json()["id"], {"succeeded"}, 180)
            other = wait_for(b, b.post("/v1/wave-forecasts", json=body).json()["id"], {"succeeded"}, 180)
        assert first["metrics"]["model_cached"] is False and again["metrics"]["model_cached"] is True
        assert other["metrics"]["model_cached"] is False  # the same series from another key: not its cache
    finally:
        locked.kill("worker")


# ---- 4. Prefer: wait holds no thread ---------------------------------------------------------------------------------


def test_forty_waiting_requests_leave_the_service_responsive(tmp_path: Path) -> None:
    """40 `Prefer: wait` requests in flight (no worker: all wait to the end) while /healthz and a job list answer.

    Before, each waiter held one of the 40 threads, and everything else waited 13 s. The bound asserted here
    (3 s) is far from both; the measured figures (a few ms) are in benchmarks/README.md (prefer_wait.py).
    """
    stack = Stack(tmp_path, workers=0).start()
    series = {"series": [[float(i % 7)] for i in range(200)], "horizon": 3}

    async def run() -> tuple[list[float], list[int]]:
        limits = httpx.Limits(max_connections=60)
        async with httpx.AsyncClient(base_url=stack.url, timeout=60, limits=limits) as c:
            waits = [
                asyncio.create_task(c.post("/v1/wave-forecasts", json=series, headers={"Prefer": "wait=8"}))
                for _ in range(40)
            ]
            await asyncio.sleep(2.0)
            latencies = []
            for path in ("/healthz", "/readyz", "/v1/jobs") * 3:
                t0 = time.perf_counter()
                await c.get(path)
                latencies.append(time.perf_counter() - t0)
            pending = sum(not w.done() for w in waits)
            codes = [r.status_code for r in await asyncio.gather(*waits)]
            return latencies, [pending, *codes]

    try:
        latencies, (pending, *codes) = asyncio.run(run())
    finally:
        stack.stop()
    assert pending == 40 and codes == [202] * 40  # all still waiting during the probes; none finished (no worker)
    assert max(latencies) < 3.0, latencies
