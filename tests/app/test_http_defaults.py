"""app/security.py's HttpDefaults: the Host check and the default headers, with its per-request shortcuts."""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive, Scope, Send

from app.security import PRIVATE, SECURITY_HEADERS, HttpDefaults
from app.settings import Settings


async def inner(scope: Scope, receive: Receive, send: Send) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
    if scope["path"] == "/own-frame-policy":
        headers.append((b"X-Frame-Options", b"SAMEORIGIN"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


def call(app: HttpDefaults, path: str, host: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": [(b"host", host), (b"accept", b"*/*")]}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], sent[0]["headers"]


def test_hosts_are_judged_the_same_each_time_and_remembered_within_a_bound() -> None:
    app = HttpDefaults(inner, Settings(allowed_hosts="api.example.com,*.example.org"))
    for _ in range(2):  # the second time from the remembered verdicts
        assert call(app, "/v1/jobs", b"localhost:8000")[0] == 200
        assert call(app, "/v1/jobs", b"API.example.com")[0] == 200
        assert call(app, "/v1/jobs", b"a.example.org:443")[0] == 200
        assert call(app, "/v1/jobs", b"evil.example")[0] == 400
        assert call(app, "/healthz", b"evil.example")[0] == 200  # probes answer any Host
    for i in range(1000):
        assert call(app, "/", f"h{i}.evil".encode())[0] == 400
    assert len(app.verdicts) <= 256


def test_the_default_headers_are_added_once_and_never_over_the_apps_own() -> None:
    app = HttpDefaults(inner, Settings())
    _, headers = call(app, "/v1/jobs", b"127.0.0.1")
    assert headers[2:] == [*SECURITY_HEADERS, PRIVATE]
    _, headers = call(app, "/", b"127.0.0.1")
    assert headers[2:] == SECURITY_HEADERS  # not cache-control: only /v1/ answers are private
    _, headers = call(app, "/own-frame-policy", b"127.0.0.1")
    assert [v for n, v in headers if n.lower() == b"x-frame-options"] == [b"SAMEORIGIN"]
    assert {n for n, _ in headers} >= {n for n, _ in SECURITY_HEADERS if n != b"x-frame-options"}
