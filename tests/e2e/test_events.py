"""The job event stream (`GET /v1/jobs/{id}/events`) against the real service: order, resume, keys, cleanup."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from tests.stack import Stack, wait_for

KEY_A = {"Authorization": "Bearer key-a"}
KEY_B = {"Authorization": "Bearer key-b"}


@dataclass
class Event:
    id: str
    event: str
    data: dict


def sse_events(
    client: httpx.Client, job_id: str, headers: dict[str, str] | None = None, limit: int | None = None
) -> Iterator[Event]:
    """Parse the W3C event stream of a job; stops after `limit` events, or when the server ends the stream."""
    fields: dict[str, str] = {}
    seen = 0
    with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers or {}, timeout=60) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith(":"):
                continue  # a ping comment
            if line:
                name, _, value = line.partition(":")
                fields[name] = value[1:] if value.startswith(" ") else value
                continue
            if "event" in fields:
                yield Event(fields["id"], fields["event"], json.loads(fields["data"]))
                seen += 1
                if limit is not None and seen >= limit:
                    return
            fields = {}


def _id(event: Event) -> tuple[int, int]:
    ms, _, seq = event.id.partition("-")
    return int(ms), int(seq)


def submit_style(
    client: httpx.Client,
    content_png: bytes,
    style_png: bytes,
    iterations: int = 40,
    headers: dict[str, str] | None = None,
) -> str:
    files = [("content", ("c.png", content_png, "image/png")), ("style", ("s.png", style_png, "image/png"))]
    response = client.post(
        "/v1/style-transfers", files=files, data={"size": "64", "iterations": str(iterations)}, headers=headers or {}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("keyed"), env={"STYLEWAVE_API_KEYS": "key-a,key-b"}).start()
    yield stack
    stack.stop()


def test_a_running_style_job_streams_status_progress_preview_then_done(
    client: httpx.Client, content_png: bytes, style_png: bytes
) -> None:
    job_id = submit_style(client, content_png, style_png)
    events = list(sse_events(client, job_id))

    kinds = [e.event for e in events]
    assert kinds[0] in ("status", "done")  # the current record first
    assert kinds[-1] == "done" and kinds.count("done") == 1
    assert {"status", "progress", "preview"} <= set(kinds), kinds
    assert events[-1].data["status"] == "succeeded" and events[-1].data["id"] == job_id
    assert [e for e in events if e.event == "status"][-1].data["status"] == "succeeded"
    progress = [e.data for e in events if e.event == "progress"]
    assert all(set(p) == {"progress", "message"} for p in progress)
    assert [p["progress"] for p in progress] == sorted(p["progress"] for p in progress)
    preview = next(e.data for e in events if e.event == "preview")
    assert client.get(preview["url"]).headers["content-type"] == "image/png"
    ids = [_id(e) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_a_finished_job_answers_done_at_once(client: httpx.Client, content_png: bytes, style_png: bytes) -> None:
    job_id = submit_style(client, content_png, style_png, iterations=5)
    wait_for(client, job_id, {"succeeded"})
    events = list(sse_events(client, job_id))
    assert [e.event for e in events] == ["done"]
    assert events[0].data["status"] == "succeeded" and events[0].data["progress"] == 1.0


def test_last_event_id_resumes_without_a_gap_or_a_repeat(
    client: httpx.Client, content_png: bytes, style_png: bytes
) -> None:
    job_id = submit_style(client, content_png, style_png, iterations=60)
    wait_for(client, job_id, {"running"})
    first = list(sse_events(client, job_id, limit=3))  # then the client drops
    assert len(first) == 3
    resumed = list(sse_events(client, job_id, headers={"Last-Event-ID": first[-1].id}))
    assert resumed[-1].event == "done"
    # Everything the job ever emitted, replayed from the start of its stream.
    every = list(sse_events(client, job_id, headers={"Last-Event-ID": "0"}))
    assert every[0].event == "status" and every[0].data["status"] == "queued"
    after = [e for e in every if _id(e) > _id(first[-1])]
    assert [(e.id, e.event) for e in resumed] == [(e.id, e.event) for e in after]
    assert {e.id for e in first[1:]} <= {e.id for e in every}


def test_bad_last_event_id_is_400(client: httpx.Client, content_png: bytes, style_png: bytes) -> None:
    job_id = submit_style(client, content_png, style_png, iterations=5)
    response = client.get(f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": "yesterday"})
    assert response.status_code == 400 and "Last-Event-ID" in response.json()["detail"]


def test_keys_see_only_their_own_streams(keyed: Stack, content_png: bytes, style_png: bytes) -> None:
    with httpx.Client(base_url=keyed.url, timeout=30) as c:
        job_id = submit_style(c, content_png, style_png, iterations=5, headers=KEY_A)
        assert c.get(f"/v1/jobs/{job_id}/events", headers=KEY_B).status_code == 404
        assert c.get(f"/v1/jobs/{job_id}/events").status_code == 401
        assert c.get("/v1/jobs/0123456789abcdef/events", headers=KEY_A).status_code == 404
        assert [e.event for e in sse_events(c, job_id, headers=KEY_A)][-1] == "done"


def _blocked_readers(stack: Stack) -> int:
    """Redis clients blocked in a command right now (a follower waiting in XREAD is one)."""
    clients = redis.Redis.from_url(stack.redis_url).client_list()
    return sum(1 for c in clients if "b" in c["flags"] and c["cmd"] in ("xread", "xreadgroup"))


def test_a_client_that_goes_away_leaves_no_reader(content_png: bytes, style_png: bytes, tmp_path: Path) -> None:
    no_worker = Stack(tmp_path, workers=0).start()  # the job stays queued: the follower waits on Redis
    try:
        with httpx.Client(base_url=no_worker.url, timeout=30) as c:
            job_id = submit_style(c, content_png, style_png, iterations=5)
            with c.stream("GET", f"/v1/jobs/{job_id}/events") as response:
                lines = response.iter_lines()  # kept: a dropped iterator closes the connection
                next(lines)
                deadline = time.monotonic() + 10
                while _blocked_readers(no_worker) != 1 and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert _blocked_readers(no_worker) == 1  # the API follows the job for this client
            deadline = time.monotonic() + 5
            while _blocked_readers(no_worker) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _blocked_readers(no_worker) == 0, "a follower kept reading after its client left"
    finally:
        no_worker.stop()


def test_the_polling_fast_path_answers_as_the_route_does(keyed: Stack, content_png: bytes, style_png: bytes) -> None:
    """`GET /v1/jobs/{id}` skips the framework (app/fastpath.py); with a query string it does not: same answers."""
    with httpx.Client(base_url=keyed.url, timeout=30) as c:
        job_id = submit_style(c, content_png, style_png, iterations=5, headers=KEY_A)
        with httpx.Client(base_url=keyed.url, headers=KEY_A, timeout=30) as owner:
            wait_for(owner, job_id, {"succeeded"})
        cases = [(job_id, KEY_A), (job_id, KEY_B), (job_id, {}), ("0" * 32, KEY_A), (job_id, {"Authorization": "x"})]
        for path_id, headers in cases:
            fast = c.get(f"/v1/jobs/{path_id}", headers=headers)
            route = c.get(f"/v1/jobs/{path_id}?via=route", headers=headers)
            assert (fast.status_code, fast.json()) == (route.status_code, route.json()), (path_id, headers)
            assert fast.headers["content-type"] == route.headers["content-type"] == "application/json"
            assert fast.headers.get("www-authenticate") == route.headers.get("www-authenticate")
        assert [c.get(f"/v1/jobs/{i}", headers=h).status_code for i, h in cases] == [200, 404, 401, 404, 401]
