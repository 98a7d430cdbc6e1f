"""HTTP defaults that protect the service and its users: the Host check, response headers, the JSON body cap.

Each is a plain ASGI layer, so that it wraps whatever answers a request (a route, the static page, or a
fast path in front of the framework).

- **Trusted hosts.** A request whose `Host` is not this service's is refused (400) before anything else
  runs: a page on another site that rebinds its DNS name to 127.0.0.1 must not read an open service.
  Allowed: `localhost`, `127.0.0.1`, `[::1]`, the bind address when it is a specific one, and the names in
  `STYLEWAVE_ALLOWED_HOSTS` (comma list; `*.example.com` matches subdomains; `*` allows any). `/healthz`
  and `/readyz` answer any Host: probes often use an IP address, and they reveal nothing.
- **Headers.** Every response carries `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
  `Referrer-Policy: no-referrer` and a Content-Security-Policy (`frame-ancestors 'none'`; the page loads
  scripts, styles and data from this origin only, and has no inline script or style). Everything under
  `/v1/` also gets `Cache-Control: private, no-store`: records and results are one key's private data.
- **Content types.** A submission whose Content-Type its endpoint does not take is refused with 415 before
  its body is parsed.
- **JSON body cap.** A JSON body over `STYLEWAVE_MAX_JSON_BYTES` is refused with 413 (JSON `detail`), from
  its Content-Length when it has one, else as it streams in.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.settings import Settings

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
OPEN_PATHS = frozenset({"/healthz", "/readyz"})

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "connect-src 'self' blob:",  # the page reads back blobs it made (downloads, previews)
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", CSP.encode()),
]
PRIVATE = (b"cache-control", b"private, no-store")


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """The Host names this service answers to (lower case, without port)."""
    names = {h.strip().lower().strip("[]") for h in settings.allowed_hosts.split(",") if h.strip()}
    bind = settings.host.strip("[]").lower()
    if bind not in ("0.0.0.0", "::", ""):
        names.add(bind)
    return frozenset(names | LOCAL_HOSTS)


def host_name(header: str) -> str:
    """`example.com:8000` -> `example.com`; `[::1]:8000` -> `::1`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def host_allowed(name: str, allowed: frozenset[str]) -> bool:
    if not name:
        return False
    if "*" in allowed or name in allowed:
        return True
    return any(a.startswith("*.") and name.endswith(a[1:]) for a in allowed)


async def _send_json(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start + (headers or [])})
    await send({"type": "http.response.body", "body": body})


class HttpDefaults:
    """The outermost layer: the Host check, then the headers above on every response.

    It wraps every request, the polling fast path's too, so it does the least per request: the headers to add
    are built once, and each Host value's verdict is remembered (a bounded number of them).
    """

    MAX_REMEMBERED_HOSTS = 256

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.allowed = allowed_hosts(settings)
        self._verdicts: dict[bytes, bool] = {}
        self._public = list(SECURITY_HEADERS)
        self._private = [*SECURITY_HEADERS, PRIVATE]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        extra = self._private if path.startswith("/v1/") else self._public

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                added = extra
                if extra is self._private and any(name.lower() == PRIVATE[0] for name, _ in headers):
                    added = self._public  # the route chose its own Cache-Control (always no-store, at least)
                message = {**message, "headers": [*headers, *added]}
            await send(message)

        if path not in OPEN_PATHS:
            host = _raw_host(scope)
            verdict = self._verdicts.get(host)
            if verdict is None:
                verdict = host_allowed(host_name(host.decode("latin-1")), self.allowed)
                if len(self._verdicts) < self.MAX_REMEMBERED_HOSTS:
                    self._verdicts[host] = verdict
            if not verdict:
                name = host_name(host.decode("latin-1"))
                detail = f"Host `{name[:100]}` is not served here; add it to STYLEWAVE_ALLOWED_HOSTS"
                await _send_json(send_with_headers, 400, detail)
                return
        await self.app(scope, receive, send_with_headers)


def _raw_host(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"host":  # ASGI servers give header names in lower case
            return bytes(value)
    return b""


class _TooLarge(HTTPException):
    """Raised from `receive`: an HTTPException, so that the framework answers it (413) as it reads the body."""

    def __init__(self, detail: str) -> None:
        super().__init__(413, detail)


class BodyLimit:
    """413 JSON for a request body over `max_bytes`: refused from its Content-Length, or counted as it streams in.

    Two of them wrap the app: the JSON cap (`json_only`, `max_json_bytes`) and the cap on every body, uploads
    included (`max_upload_bytes`). Starlette's own cap would answer text/plain; every error here is JSON.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, json_only: bool = False) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.json_only = json_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if self.json_only and media != "application/json" and not media.endswith("+json"):
            await self.app(scope, receive, send)
            return
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            await _send_json(send, 413, self._detail(int(length)), [(b"connection", b"close")])  # body unread
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Without a Content-Length (chunked): count the body as it streams in, and stop at the cap."""
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge(self._detail(seen, more=True))
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except _TooLarge as exc:  # read outside a route (one that does not catch it): answer here
            if started:
                raise
            await _send_json(send, 413, exc.detail, [(b"connection", b"close")])

    def _detail(self, size: int, more: bool = False) -> str:
        what = "the JSON body" if self.json_only else "the request body"
        body = what if more else f"{what} of {size} bytes"
        return f"{body} exceeds the limit of {self.max_bytes} bytes"


# POST endpoints and the body type each accepts; anything else is refused with 415 before parsing.
_BODY_TYPES = {
    "/v1/style-transfers": ("multipart/form-data",),
    "/v1/wave-forecasts": ("application/json", "text/csv", "multipart/form-data"),  # CSV: see app.csv_body
}


class ContentTypeGuard:
    """Answer 415 when a submission's Content-Type is not one its endpoint takes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            expected = _BODY_TYPES.get(scope["path"].rstrip("/"))
            if expected is not None:
                headers = dict(scope["headers"])
                given = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
                if given not in expected:
                    detail = f"Content-Type must be {' or '.join(expected)}, not {given or 'missing'}"
                    await JSONResponse({"detail": detail}, 415)(scope, receive, send)
                    return
        await self.app(scope, receive, send)
