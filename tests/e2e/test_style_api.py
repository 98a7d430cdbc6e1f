"""Style transfer through the real service: submit, poll, download, cancel, and refuse bad input."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from tests.conftest import make_content
from tests.stack import Stack, wait_for


def submit(client: httpx.Client, files: list, **fields: object) -> httpx.Response:
    return client.post("/v1/style-transfers", files=files, data={k: str(v) for k, v in fields.items()})


def test_transfer_end_to_end(client: httpx.Client, content_png: bytes, style_png: bytes) -> None:
    r = submit(
        client, [("content", ("c.png", content_png)), ("style", ("s.png", style_png))], size=64, iterations=8, scales=1
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] in ("queued", "running") and job["kind"] == "style_transfer"
    assert job["params"]["size"] == 64 and job["params"]["iterations"] == 8
    assert job["params"]["content_layers"] is None  # unset: the mode's default, conv4_2 for a transfer

    done = wait_for(client, job["id"], {"succeeded", "failed"}, timeout=180)
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"] == 1.0 and done["attempts"] == 1 and done["metrics"]["iterations"] == 8
    assert done["worker"]["pid"] > 0 and done["started_at"] >= done["created_at"]
    metrics = done["metrics"]
    assert (metrics["iterations"], metrics["width"], metrics["height"]) == (8, 64, 48)
    assert all(type(metrics[k]) is int for k in ("iterations", "width", "height"))  # 8, not 8.0
    assert set(metrics["losses"]) >= {"content", "style", "total"} and not [k for k in metrics if "_loss" in k]

    result = client.get(f"/v1/jobs/{job['id']}/result")
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    out = Image.open(io.BytesIO(result.content))
    assert out.size == (64, 48)  # content is 64x48: longest edge = size, aspect kept
    # Clearly changed from the content, toward the style's blue/yellow.
    content = np.asarray(make_content().resize(out.size), np.float32)
    assert np.abs(np.asarray(out.convert("RGB"), np.float32) - content).mean() > 5

    preview = client.get(f"/v1/jobs/{job['id']}/preview")
    assert preview.status_code == 200 and preview.content[:4] == b"\x89PNG"
    listed = [j["id"] for j in client.get("/v1/jobs").json()["jobs"]]
    assert job["id"] in listed


def test_style_mode_needs_no_content(client: httpx.Client, style_png: bytes) -> None:
    r = submit(client, [("style", ("s.png", style_png))], mode="style", size=48, iterations=5)
    assert r.status_code == 202, r.text
    done = wait_for(client, r.json()["id"], {"succeeded", "failed"}, timeout=120)
    assert done["status"] == "succeeded", done["error"]
    out = Image.open(io.BytesIO(client.get(f"/v1/jobs/{done['id']}/result").content))
    assert max(out.size) == 48


def test_cancel_running_job(client: httpx.Client, content_png: bytes, style_png: bytes) -> None:
    r = submit(client, [("content", ("c.png", content_png)), ("style", ("s.png", style_png))], size=64, iterations=5000)
    job_id = r.json()["id"]
    wait_for(client, job_id, {"running"}, timeout=120)
    t0 = time.monotonic()
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
    assert wait_for(client, job_id, {"canceled"}, timeout=30)["status"] == "canceled"
    assert time.monotonic() - t0 < 30
    time.sleep(1.5)  # the worker noticed the flag and stopped; nothing may bring the job back
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "canceled" and job["progress"] < 1.0
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 409
    assert client.get(f"/v1/jobs/{job_id}/result").status_code == 409


def test_unknown_job_is_404(client: httpx.Client) -> None:
    assert client.get("/v1/jobs/00000000000000000000000000000000").status_code == 404
    assert client.delete("/v1/jobs/nope").status_code == 404
    assert client.get("/v1/jobs/nope/result").status_code == 404


def _truncated_jpeg() -> bytes:
    buf = io.BytesIO()
    make_content((96, 96)).save(buf, format="JPEG")
    return buf.getvalue()[: len(buf.getvalue()) // 2]


def test_bad_inputs_are_refused_and_nothing_is_queued(
    client: httpx.Client, content_png: bytes, style_png: bytes
) -> None:
    before = {j["id"] for j in client.get("/v1/jobs").json()["jobs"]}
    good = [("content", ("c.png", content_png)), ("style", ("s.png", style_png))]
    cases = {
        "content": submit(client, [("content", ("c.txt", b"hello, not an image")), good[1]]),
        "style": submit(client, [good[0]]),
        "size": submit(client, good, size=-5),
        "content_layers": submit(client, good, content_layers="conv9_9"),
        "truncated": submit(client, [("content", ("c.jpg", _truncated_jpeg())), good[1]]),
        "mode": submit(client, good, mode="sketch"),
        "optimizer": submit(client, good, optimizer="sgd"),
        "style_weight": submit(client, good, style_weight="nan"),
        "iterations": submit(client, good, iterations=10**9),
        "style_blend": submit(client, good, style_blend="1,2"),
    }
    for field, r in cases.items():
        assert 400 <= r.status_code < 500, (field, r.status_code, r.text)
        if field != "truncated":
            assert field in r.text, (field, r.text)
    json_body = client.post("/v1/style-transfers", json={"size": 64})
    assert json_body.status_code == 415
    after = {j["id"] for j in client.get("/v1/jobs").json()["jobs"]}
    assert after == before


def test_decompression_bomb_is_refused_quickly(client: httpx.Client, style_png: bytes) -> None:
    bomb = io.BytesIO()
    Image.new("1", (30_000, 30_000)).save(bomb, format="PNG")
    t0 = time.monotonic()
    r = submit(client, [("content", ("bomb.png", bomb.getvalue())), ("style", ("s.png", style_png))])
    assert r.status_code in (413, 422), r.text
    assert "content" in r.text
    assert time.monotonic() - t0 < 10
    assert client.get("/healthz").status_code == 200


def test_empty_file_is_refused(client: httpx.Client, style_png: bytes) -> None:
    r = submit(client, [("content", ("empty.png", b"")), ("style", ("s.png", style_png))])
    assert r.status_code == 422 and "content" in r.text


def test_sweep_of_four_style_weights_is_a_labelled_grid(
    client: httpx.Client, content_png: bytes, style_png: bytes
) -> None:
    r = submit(
        client,
        [("content", ("c.png", content_png)), ("style", ("s.png", style_png))],
        size=48,
        iterations=6,
        scales=1,
        sweep_style_weights="0.1,1,10,100",
    )
    assert r.status_code == 202, r.text
    done = wait_for(client, r.json()["id"], {"succeeded", "failed"}, timeout=180)
    assert done["status"] == "succeeded", done["error"]
    labels = done["metrics"]["tiles"]
    assert len(labels) == 4 and all(labels)
    grid = Image.open(io.BytesIO(client.get(f"/v1/jobs/{done['id']}/result").content))
    tiles = [Image.open(io.BytesIO(client.get(f"/v1/jobs/{done['id']}/tiles/{i}").content)) for i in range(4)]
    assert all(t.size == (48, 36) for t in tiles)
    # 2 x 2 tiles, plus room for the labels: wider than two tiles, taller than two.
    assert 2 * 48 <= grid.width < 3 * 48 and grid.height >= 2 * 36
    assert client.get(f"/v1/jobs/{done['id']}/tiles/4").status_code == 404


def test_dream_sweep_over_four_layers_is_one_labelled_grid(client: httpx.Client, content_png: bytes) -> None:
    layers = ["conv2_1", "conv3_1", "conv4_1", "conv5_1"]
    fields = {"mode": "dream", "size": 48, "iterations": 2, "scales": 1, "dream_strength": 2}
    r = submit(client, [("content", ("c.png", content_png))], **fields, sweep_content_layers=",".join(layers))
    assert r.status_code == 202, r.text
    assert r.json()["params"]["iterations"] == 2 and r.json()["params"]["sweep_content_layers"] == layers
    done = wait_for(client, r.json()["id"], {"succeeded", "failed"}, timeout=180)
    assert done["status"] == "succeeded", done["error"]
    assert done["metrics"]["tiles"] == layers and done["metrics"]["iterations"] == 4 * 2
    assert all(done["metrics"][f"activation_gain_{name}"] > 1 for name in layers)
    grid = Image.open(io.BytesIO(client.get(f"/v1/jobs/{done['id']}/result").content))
    assert 2 * 48 <= grid.width < 3 * 48 and grid.height >= 2 * 36
    assert client.get(f"/v1/jobs/{done['id']}/tiles/3").status_code == 200


def test_every_option_through_the_api_and_seeded_runs_are_identical(
    client: httpx.Client, content_png: bytes, style_png: bytes
) -> None:
    files = [("content", ("c.png", content_png)), ("style", ("s1.png", style_png)), ("style", ("s2.png", content_png))]
    options = {
        "size": 48,
        "iterations": 6,
        "scales": 2,
        "style_blend": "3,1",
        "preserve_colors": "true",
        "tv_weight": 0.5,
        "style_scale": 0.8,
        "pooling": "avg",
        "layer_weights": "conv1_1:2,conv4_2:1",
        "precision": "fp32",
        "init": "noise",
        "optimizer": "adam",
        "seed": 7,
    }
    pngs = []
    for _ in range(2):
        r = submit(client, files, **options)
        assert r.status_code == 202, r.text
        done = wait_for(client, r.json()["id"], {"succeeded", "failed"}, timeout=180)
        assert done["status"] == "succeeded", done["error"]
        assert done["params"]["style_blend"] == [3.0, 1.0] and done["params"]["pooling"] == "avg"
        pngs.append(client.get(f"/v1/jobs/{done['id']}/result").content)
    assert pngs[0] == pngs[1]


def test_bad_option_values_get_422_naming_the_option(
    client: httpx.Client, content_png: bytes, style_png: bytes
) -> None:
    good = [("content", ("c.png", content_png)), ("style", ("s.png", style_png))]
    bad = {
        "scales": 0,
        "style_scale": -1,
        "pooling": "min",
        "tv_weight": -1,
        "preserve_colors": "maybe",
        "layer_weights": "conv1_1:x",
        "sweep_style_layers": "conv1_1|conv7_7",
        "sweep_style_weights": "1,-2",
        "precision": "fp8",
        "init": "photo",
        "seed": -1,
        "content_weight": "inf",
        "style_wieght": 3,
        "dream_strength": 0,
        "sweep_content_layers": "conv2_1,conv9_1",
    }
    for field, value in bad.items():
        r = submit(client, good, **{field: value})
        assert r.status_code == 422, (field, r.text)
        assert field in r.text, (field, r.text)


def test_worker_logs_carry_the_job_id(
    service: Stack, client: httpx.Client, content_png: bytes, style_png: bytes
) -> None:
    r = submit(client, [("content", ("c.png", content_png)), ("style", ("s.png", style_png))], size=32, iterations=2)
    job_id = r.json()["id"]
    wait_for(client, job_id, {"succeeded", "failed"}, timeout=120)
    lines = [
        json.loads(line)
        for log in service.data_dir.glob("worker-*.log")
        for line in log.read_text().splitlines()
        if line.startswith("{")
    ]
    mine = [entry["msg"] for entry in lines if entry.get("job_id") == job_id]
    assert "job started" in mine and "job succeeded" in mine


def test_upload_over_the_cap_is_413(client: httpx.Client, service: Stack, style_png: bytes) -> None:
    before = {j["id"] for j in client.get("/v1/jobs").json()["jobs"]}
    big = b"\x89PNG" + b"\0" * (20 * 1024 * 1024 + 10)  # the default cap is 20 MiB per request
    r = client.post("/v1/style-transfers", files=[("content", ("big.png", big)), ("style", ("s.png", style_png))])
    assert r.status_code == 413, r.text
    assert r.headers["content-type"] == "application/json", r.headers  # every error is JSON {"detail": ...}
    detail = r.json()["detail"]
    assert detail.startswith("the request body of ") and detail.endswith(f"exceeds the limit of {20 << 20} bytes")

    def chunks():  # no Content-Length: the server must count the bytes as they stream in
        yield b'--b\r\nContent-Disposition: form-data; name="content"; filename="x.png"\r\n\r\n'
        for _ in range(24):
            yield b"\0" * (1024 * 1024)

    r = client.post(
        "/v1/style-transfers", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert r.status_code == 413, r.text
    assert r.json()["detail"] == f"the request body exceeds the limit of {20 << 20} bytes"
    assert {j["id"] for j in client.get("/v1/jobs").json()["jobs"]} == before
    assert client.get("/healthz").status_code == 200


def test_a_size_no_worker_can_plan_in_its_memory_is_refused_before_anything_is_queued(
    content_png: bytes, style_png: bytes, tmp_path: Path
) -> None:
    # A worker with 1.5 GB plans small jobs, but not a 4096 px print: it says so with its heartbeat.
    stack = Stack(tmp_path, env={"STYLEWAVE_WORKER_MEMORY_MB": "1500"}).start()
    try:
        with httpx.Client(base_url=stack.url, timeout=30) as c:
            good = [("content", ("c.png", content_png)), ("style", ("s.png", style_png))]
            r = submit(c, good, size=4096)
            assert r.status_code == 422, r.text
            (error,) = r.json()["detail"]
            assert error["loc"] == ["body", "size"] and "memory" in error["msg"] and "at most" in error["msg"]
            assert c.get("/v1/jobs").json()["jobs"] == []  # nothing was created or queued
            r = submit(c, good, size=48, iterations=4, scales=1)  # within its memory: runs there
            assert r.status_code == 202, r.text
            done = wait_for(c, r.json()["id"], {"succeeded", "failed"}, timeout=120)
            assert done["status"] == "succeeded", done["error"]
    finally:
        stack.stop()
