"""RecordViews: the fast path reuses a parsed record only for the exact bytes it was parsed from."""

from __future__ import annotations

import json

from app.fastpath import RecordViews
from app.schemas import Job, JobKind, JobStatus


def record(job_id: str, status: str = "succeeded", owner: str = "alice", message: str = "done") -> bytes:
    job = Job(id=job_id, kind=JobKind.wave_forecast, status=JobStatus(status), created_at=1.0, message=message)
    data = job.model_dump(mode="json")
    data["owner"] = owner
    return json.dumps(data).encode()


def test_the_same_bytes_reuse_the_view_and_new_bytes_are_parsed() -> None:
    views = RecordViews()
    first = record("a" * 32)
    job, body = views.get("a" * 32, first)
    assert job.owner == "alice" and json.loads(body)["status"] == "succeeded" and "owner" not in json.loads(body)
    assert body == job.model_dump_json().encode()
    again = views.get("a" * 32, bytes(first))  # equal bytes, another object: as a new read from Redis gives
    assert again[0] is job and again[1] is body
    changed, changed_body = views.get("a" * 32, record("a" * 32, owner="bob", message="moved"))
    assert changed.owner == "bob" and json.loads(changed_body)["message"] == "moved"
    assert views.get("a" * 32, first)[0] is not job  # the view followed the bytes, back and forth


def test_the_views_stay_within_their_budget() -> None:
    one = len(record("0" * 32)) + len(views_body := RecordViews().get("0" * 32, record("0" * 32))[1])
    assert views_body
    views = RecordViews(budget=3 * one, largest=one)
    for i in range(10):
        views.get(f"{i:032x}", record(f"{i:032x}"))
    assert sorted(views.entries) == [f"{i:032x}" for i in (7, 8, 9)] and views.size <= 3 * one
    big = record("f" * 32, message="x" * one)
    job, _ = views.get("f" * 32, big)  # over `largest`: answered, not kept
    assert job.message == "x" * one and "f" * 32 not in views.entries
