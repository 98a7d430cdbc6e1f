"""The HTTP defaults layer (app/security.py) on its own, around a plain ASGI app: its verdicts and headers."""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive, Scope, Send

from app.security import HttpDefaults
from app.settings import Settings


async def plain(scope: Scope, receive: Receive, send: Send) -> None:
    headers = [(b"content-type", b"text/plain")]
    if scope["path"].endswith("/own-cache"):
        headers.append((b"cache-control", b"no-store"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


def call(app: HttpDefaults, path: str, host: bytes) -> tuple[int, dict[bytes, bytes]]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": [(b"host", host)] if host else []}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"])


def test_hosts_keep_their_verdict_when_remembered_and_the_memory_is_bounded() -> None:
    app = HttpDefaults(plain, Settings(allowed_hosts="api.example.com,*.corp.example"))
    for _ in range(2):  # the second round answers from the remembered verdicts
        assert call(app, "/v1/jobs", b"api.example.com:443")[0] == 200
        assert call(app, "/v1/jobs", b"x.corp.example")[0] == 200
        assert call(app, "/v1/jobs", b"evil.example")[0] == 400
        assert call(app, "/v1/jobs", b"")[0] == 400
        assert call(app, "/healthz", b"10.0.0.7:8000")[0] == 200
    for i in range(2 * HttpDefaults.MAX_REMEMBERED_HOSTS):
        assert call(app, "/", f"h{i}.evil.example".encode())[0] == 400
    assert len(app._verdicts) <= HttpDefaults.MAX_REMEMBERED_HOSTS
    assert call(app, "/", b"localhost:8000")[0] == 200


def test_every_answer_gets_the_headers_and_v1_a_private_cache_control_unless_it_set_one() -> None:
    app = HttpDefaults(plain, Settings())
    for path, cache in (("/", None), ("/v1/jobs", b"private, no-store"), ("/v1/jobs/x/own-cache", b"no-store")):
        status, headers = call(app, path, b"127.0.0.1:8000")
        assert status == 200 and headers[b"x-content-type-options"] == b"nosniff", path
        assert b"frame-ancestors 'none'" in headers[b"content-security-policy"], path
        assert headers.get(b"cache-control") == cache, path
    status, headers = call(app, "/v1/jobs", b"evil.example")
    assert status == 400 and headers[b"x-frame-options"] == b"DENY" and headers[b"cache-control"]
