"""uvicorn's httptools protocol, writing each response to its socket in one call.

uvicorn writes a response's status line and headers, then its body, each with its own `transport.write`, and
so its own `send(2)`: for a small response such as a polled job record, the second system call (and the
second trip through the loopback or network stack) is a large share of the request's whole cost. Here the
protocol's transport keeps what is written during one turn of the event loop and hands it to the socket at
the end of that turn, in one write. Nothing waits longer: the turn ends without any further I/O, and a
streamed response (the event stream) is still written as each of its messages is sent.

`serve_app` is what `stylewave api` hands uvicorn: the server app, with the heap it was built from taken out of
the cyclic garbage collector's sweeps (see its docstring).
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.main import create_server_app
from app.security import HttpDefaults

# What `stylewave api` hands uvicorn: its `http` protocol, and its app factory (one call per process).
HTTP_PROTOCOL = "app.server:CoalescingHttpToolsProtocol"
APP_FACTORY = "app.server:serve_app"


def serve_app() -> HttpDefaults:
    """The server app, for a process that serves it, with its start-up heap frozen out of the collector.

    Python's full (generation 2) collection walks every tracked object: here the ~80,000 that importing
    FastAPI, pydantic, Celery and the app leaves behind, tens of milliseconds of CPU on a small machine, during
    which the event loop stands still. Polling from many connections brought one every few seconds (what
    survives the younger collections counts towards the next full one), and the burst of polls it caught
    waited that much longer: most of the p99 from 100 connections (benchmarks/README.md). Those start-up
    objects live as long as the process, so after one last collection `gc.freeze` moves them where
    collections do not look. What is allocated later, requests included, is collected as before.
    """
    app = create_server_app()
    gc.collect()
    gc.freeze()
    return app


class CoalescingTransport:
    """A transport whose writes within one event-loop turn reach the socket as one write."""

    __slots__ = ("transport", "loop", "pending")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.loop = loop
        self.pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self.pending:
            self.loop.call_soon(self.flush)
        self.pending.append(data)

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        if not self.pending:
            return
        data = self.pending[0] if len(self.pending) == 1 else b"".join(self.pending)
        self.pending = []
        if not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        self.flush()  # a response written just before the connection closes still goes out, first
        self.transport.close()

    def write_eof(self) -> None:
        self.flush()
        self.transport.write_eof()

    def abort(self) -> None:
        self.pending = []
        self.transport.abort()

    def get_write_buffer_size(self) -> int:
        return sum(map(len, self.pending)) + self.transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:  # everything else: the socket's own transport
        return getattr(self.transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a CoalescingTransport: one write per response."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
