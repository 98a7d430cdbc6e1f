"""A lean asyncio Redis client for the polling fast path: one connection, every concurrent command pipelined.

redis-py's asyncio client spends most of a `GET`'s cost on itself: a connection taken from and returned to its
pool, a health check, a retry wrapper, a timeout per read, a write per command. A busy API process answers
many polls at once, each of which needs one `GET`. Here they all share one connection: the commands issued in
one turn of the event loop go out in one write, and the replies, which Redis sends in order, are read back with
the hiredis parser and handed to their waiters in that order.

It only reads (`GET`, `ZRANK`); everything else goes through redis-py. Errors are redis-py's exception types, so
the caller handles them as it would redis-py's: a lost connection, a refused one, and a reply that does not
come within the timeout are `redis.ConnectionError` or `redis.TimeoutError` (then the connection is dropped,
and the next command opens a new one), an error reply is `redis.ResponseError`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import redis
from redis.asyncio.connection import SSLConnection, parse_url

try:
    import hiredis
except ImportError:  # a dependency (redis[hiredis]); without it the fast path uses redis-py
    hiredis = None  # type: ignore[assignment]


def pack(args: tuple[bytes, ...]) -> bytes:
    """A command in the Redis protocol (RESP): an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


class _Connection(asyncio.Protocol):
    """One socket to Redis; its waiters are the futures of the commands sent and not yet answered, in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.reader = hiredis.Reader(replyError=redis.ResponseError)
        self.waiters: deque[tuple[asyncio.Future[Any], float]] = deque()
        self.pending: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.watchdog: asyncio.TimerHandle | None = None
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not asyncio.Transport subclasses

    def send(self, command: bytes) -> asyncio.Future[Any]:
        if self.lost is not None:
            raise redis.ConnectionError(f"lost the connection to Redis: {self.lost}")
        future = self.loop.create_future()
        if not self.pending:
            self.loop.call_soon(self.flush)
        self.pending.append(command)
        self.waiters.append((future, self.loop.time()))
        if self.watchdog is None:
            self.watchdog = self.loop.call_later(self.timeout, self.check_timeout)
        return future

    def flush(self) -> None:
        if self.pending and self.transport is not None and self.lost is None:
            self.transport.write(b"".join(self.pending))
        self.pending = []

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self._next_reply()) is not False:
            future, _ = self.waiters.popleft()
            if future.done():  # its caller gave up (cancelled); the reply is still consumed, in order
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def _next_reply(self) -> Any:
        """The next whole reply, or False; a stream that is not the Redis protocol drops the connection."""
        try:
            return self.reader.gets()
        except hiredis.ProtocolError as exc:
            self.fail(redis.ConnectionError(f"not the Redis protocol: {exc}"))
            if self.transport is not None:
                self.transport.abort()
            return False

    def check_timeout(self) -> None:
        """Drop the connection when its oldest unanswered command has waited longer than the timeout."""
        self.watchdog = None
        if not self.waiters:
            return
        waited = self.loop.time() - self.waiters[0][1]
        if waited >= self.timeout:
            self.fail(redis.TimeoutError(f"Redis did not answer within {self.timeout:g} s"))
            if self.transport is not None:
                self.transport.abort()
            return
        self.watchdog = self.loop.call_later(self.timeout - waited, self.check_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(redis.ConnectionError(f"lost the connection to Redis: {exc or 'closed'}"))

    def fail(self, error: Exception) -> None:
        self.lost = self.lost or error
        self.pending = []
        while self.waiters:
            future, _ = self.waiters.popleft()
            if not future.done():
                future.set_exception(error)


class PipelinedRedis:
    """Commands on one shared, pipelined connection, opened on first use and again after it is lost."""

    def __init__(self, options: dict[str, Any], timeout: float = 5.0, connect_timeout: float = 2.0) -> None:
        self.options = options
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self.conn: _Connection | None = None
        self.connecting: asyncio.Task[_Connection] | None = None

    @classmethod
    def from_url(cls, url: str, timeout: float = 5.0) -> PipelinedRedis | None:
        """A client for a `redis://` or `unix://` URL; None without hiredis, or for TLS (`rediss://`)."""
        options: dict[str, Any] = dict(parse_url(url))
        if hiredis is None or options.get("connection_class") is SSLConnection:
            return None
        return cls(options, timeout)

    async def execute(self, *args: bytes | str) -> Any:
        command = pack(tuple(a.encode() if isinstance(a, str) else a for a in args))
        conn = self.conn
        if conn is None or conn.lost is not None or conn.loop is not asyncio.get_running_loop():
            conn = await self._connection()  # (a connection belongs to the event loop it was opened in)
        return await conn.send(command)

    async def _connection(self) -> _Connection:
        """The live connection; concurrent callers share one attempt to open it."""
        if self.connecting is None:
            self.connecting = asyncio.ensure_future(self._open())
        task = self.connecting
        try:
            return await asyncio.shield(task)
        finally:
            if task.done() and self.connecting is task:
                self.connecting = None

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        conn = _Connection(loop, self.timeout)
        o = self.options
        try:
            async with asyncio.timeout(self.connect_timeout):
                if "path" in o:
                    await loop.create_unix_connection(lambda: conn, o["path"])
                else:
                    await loop.create_connection(lambda: conn, o.get("host", "localhost"), o.get("port", 6379))
                if o.get("password") is not None:
                    auth = (o["username"], o["password"]) if o.get("username") else (o["password"],)
                    await conn.send(pack((b"AUTH", *(a.encode() for a in auth))))
                if o.get("db"):
                    await conn.send(pack((b"SELECT", str(o["db"]).encode())))
        except (OSError, TimeoutError, redis.RedisError) as exc:
            conn.fail(redis.ConnectionError(str(exc)))
            if conn.transport is not None:
                conn.transport.abort()
            if isinstance(exc, redis.RedisError):
                raise
            raise redis.ConnectionError(f"could not connect to Redis: {exc}") from exc
        self.conn = conn
        return conn

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None and conn.transport is not None:
            conn.transport.close()
