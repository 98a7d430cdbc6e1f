"""Webhooks against the real service and a real receiver on loopback: events, signature, retries, SSRF guard."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.stack import REPO, Stack, wait_for

WAVES = [{"offset": 1, "terms": [{"fn": "sin", "amplitude": 1, "period": 40, "phase": 0}]}]


class Receiver:
    """An HTTP server on loopback that records each POST and answers with the next scripted status."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [])
        self.calls: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                code = receiver.answers.pop(0) if receiver.answers else 200
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body, code))
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [json.loads(body)["event"] for _, body, _ in self.calls]

    def wait(self, done: Callable[[Receiver], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not done(self) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert done(self), f"receiver got {self.events()}"

    def close(self) -> None:
        self.server.shutdown()


def readme_verify() -> Callable[..., bool]:
    """The receiver code from the README, run exactly as a user would copy it."""
    readme = (REPO / "README.md").read_text()
    code = re.search(r"<!-- webhook-verify -->\s*```python\n(.*?)```", readme, re.S)
    assert code, "the README lost its webhook verification example"
    scope: dict[str, Any] = {}
    exec(code.group(1), scope)  # noqa: S102 - the documented snippet is what we test
    return scope["verify"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"STYLEWAVE_WEBHOOK_ALLOW_PRIVATE": "1", "STYLEWAVE_WEBHOOK_RETRY_BASE_SECONDS": "0.5"}
    stack = Stack(tmp_path_factory.mktemp("hooks"), env=env).start()
    yield stack
    stack.stop()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_a_receiver_gets_start_then_completed_signed(
    hooks: Stack, receiver: Receiver, content_png: bytes, style_png: bytes
) -> None:
    with httpx.Client(base_url=hooks.url, timeout=30) as c:
        files = [("content", ("c.png", content_png, "image/png")), ("style", ("s.png", style_png, "image/png"))]
        data = {"size": "32", "iterations": "30", "webhook": receiver.url}
        job = c.post("/v1/style-transfers", files=files, data=data).json()
        assert job["webhook"] == receiver.url and "webhook" not in job["params"]
        assert job["links"]["events"] == f"/v1/jobs/{job['id']}/events"
        receiver.wait(lambda r: "completed" in r.events())
        secret = c.get("/v1/webhooks/secret").json()["secret"]
        record = wait_for(c, job["id"], {"succeeded"})

    events = receiver.events()
    assert events[0] == "start" and events[-1] == "completed" and events.count("completed") == 1
    assert set(events) <= {"start", "progress", "completed"}
    verify = readme_verify()
    for headers, body, _ in receiver.calls:
        assert verify(secret, headers, body)
        assert not verify(secret, headers, body.replace(b'"status"', b'"statuz"'))  # tampering shows
    final = json.loads(receiver.calls[-1][1])
    assert final["id"] == job["id"] and final["status"] == "succeeded" and final["event"] == "completed"
    assert secret.startswith("whsec_")
    # Each delivery's outcome is in the record: delivered once, 200.
    deliveries = {d["event"]: d for d in record["webhooks"]}
    assert deliveries["start"]["status_code"] == 200 and deliveries["start"]["attempts"] == 1
    deadline = time.monotonic() + 10
    while "completed" not in deliveries and time.monotonic() < deadline:
        time.sleep(0.2)
        deliveries = {d["event"]: d for d in httpx.get(f"{hooks.url}/v1/jobs/{job['id']}").json()["webhooks"]}
    assert deliveries["completed"]["delivered_at"] is not None


def test_a_failing_receiver_gets_the_event_on_the_third_try(hooks: Stack) -> None:
    receiver = Receiver(answers=[500, 500, 200])
    try:
        body = {
            "waves": WAVES,
            "history": 300,
            "horizon": 5,
            "model": "persistence",
            "webhook": receiver.url,
            "webhook_events_filter": ["completed"],
        }
        job = httpx.post(f"{hooks.url}/v1/wave-forecasts", json=body, timeout=30).json()
        receiver.wait(lambda r: len(r.calls) >= 3, timeout=60)
        assert [code for _, _, code in receiver.calls] == [500, 500, 200]
        assert receiver.events() == ["completed"] * 3
        assert len({h["webhook-id"] for h, _, _ in receiver.calls}) == 1  # one message, tried three times
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            record = httpx.get(f"{hooks.url}/v1/jobs/{job['id']}").json()
            if record["webhooks"] and record["webhooks"][0]["status_code"] == 200:
                break
            time.sleep(0.2)
        [delivery] = record["webhooks"]
        assert delivery["event"] == "completed" and delivery["attempts"] == 3 and delivery["delivered_at"]
    finally:
        receiver.close()


def test_the_guard_refuses_inside_addresses_with_422(client: httpx.Client, content_png: bytes) -> None:
    """The shared service keeps the guard on: loopback, private and non-http URLs are refused, nothing queued."""
    before = len(client.get("/v1/jobs").json()["jobs"])
    for url in (
        "http://127.0.0.1:9/hook",
        "http://localhost/x",
        "http://10.1.2.3/",
        "http://169.254.169.254/",
        "http://[::1]/",
        "ftp://example.com/",
        "not a url",
    ):
        body = {"waves": WAVES, "history": 300, "horizon": 5, "webhook": url}
        response = client.post("/v1/wave-forecasts", json=body)
        assert response.status_code == 422, (url, response.text)
        assert "webhook" in json.dumps(response.json()["detail"]), response.text
    files = [("content", ("c.png", content_png, "image/png"))]
    response = client.post("/v1/style-transfers", files=files, data={"mode": "content", "webhook": "http://127.0.0.1/"})
    assert response.status_code == 422 and "webhook" in response.text
    bad_filter = {"waves": WAVES, "history": 300, "horizon": 5, "webhook_events_filter": "start,finish"}
    assert client.post("/v1/wave-forecasts", json=bad_filter).status_code == 422
    assert len(client.get("/v1/jobs").json()["jobs"]) == before
