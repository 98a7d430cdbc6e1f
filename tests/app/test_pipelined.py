"""The pipelined Redis client of the polling fast path, against a real redis-server."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from app.embedded import die_with_parent, free_port, redis_server_binary, shutdown, start_redis
from app.pipelined import PipelinedRedis, pack

pytest.importorskip("hiredis", reason="the pipelined client needs hiredis (redis[hiredis], a dependency)")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A plain TCP redis-server (an external Redis, as compose uses): the password test needs CONFIG, which
    the embedded Redis's ACL denies; the embedded one's Unix socket has its own test below."""
    port = free_port()
    argv = [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        argv,
        cwd=tmp_path_factory.mktemp("redis"),
        stdout=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    client.close()
    yield url
    shutdown([("redis", proc)])


@pytest.fixture()
def r(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    yield client
    client.config_set("requirepass", "")
    client.close()


def client_for(url: str, timeout: float = 5.0) -> PipelinedRedis:
    client = PipelinedRedis.from_url(url, timeout=timeout)
    assert client is not None
    return client


def test_pack_is_the_redis_protocol() -> None:
    assert pack((b"GET", b"sw:job:1")) == b"*2\r\n$3\r\nGET\r\n$8\r\nsw:job:1\r\n"
    assert pack((b"SET", b"k", b"")) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"


def test_concurrent_commands_each_get_their_own_reply(r: redis.Redis, redis_url: str) -> None:
    values = {f"k{i}": f"value {i}".encode() * (1 + i % 7) for i in range(50)}
    r.mset(values)  # type: ignore[arg-type]
    r.zadd("queue", {"a": 1, "b": 2, "c": 3})
    r.rpush("a-list", "x")
    keys = [f"k{i % 60}" for i in range(2000)]  # k50..k59 do not exist: nil replies among the others

    async def main() -> tuple[list[bytes | None], list[object]]:
        client = client_for(redis_url)
        gets = await asyncio.gather(*(client.execute("GET", k) for k in keys))
        mixed = await asyncio.gather(
            client.execute("ZRANK", "queue", "c"),
            client.execute("GET", "a-list"),  # an error reply (WRONGTYPE) in the middle of a pipeline
            client.execute("ZRANK", "queue", "zz"),
            client.execute(b"GET", b"k1"),
            return_exceptions=True,
        )
        await client.close()
        return gets, mixed

    gets, mixed = asyncio.run(main())
    assert gets == [values.get(k) for k in keys]
    assert mixed[0] == 2 and mixed[2] is None and mixed[3] == values["k1"]
    assert isinstance(mixed[1], redis.ResponseError) and "WRONGTYPE" in str(mixed[1])


def test_a_slow_reply_times_out_and_the_next_command_reconnects(r: redis.Redis, redis_url: str) -> None:
    r.set("k", "v")

    async def main() -> None:
        client = client_for(redis_url, timeout=0.5)
        blocked = client.execute("BLPOP", "nothing", "3")  # Redis answers after 3 s: past the timeout
        behind = client.execute("GET", "k")  # pipelined behind it on the same connection
        results = await asyncio.gather(blocked, behind, return_exceptions=True)
        assert all(isinstance(e, redis.TimeoutError) for e in results), results
        assert await client.execute("GET", "k") == b"v"
        await client.close()

    asyncio.run(main())


def test_a_lost_connection_fails_what_was_in_flight_and_is_reopened(r: redis.Redis, redis_url: str) -> None:
    r.set("k", "v")

    async def main() -> None:
        client = client_for(redis_url)
        assert await client.execute("GET", "k") == b"v"
        in_flight = asyncio.ensure_future(client.execute("BLPOP", "nothing", "5"))
        await asyncio.sleep(0.2)
        assert await asyncio.to_thread(r.client_kill_filter, _type="normal", skipme=True) >= 1
        with pytest.raises(redis.ConnectionError):
            await in_flight
        assert await client.execute("GET", "k") == b"v"
        await client.close()

    asyncio.run(main())


def test_a_refused_connection_is_a_connection_error() -> None:
    async def main() -> None:
        client = client_for(f"redis://127.0.0.1:{free_port()}/0")
        for _ in range(2):  # and again: a failed attempt is not kept
            with pytest.raises(redis.ConnectionError):
                await client.execute("GET", "k")

    asyncio.run(main())


def test_the_embedded_redis_unix_socket(tmp_path: Path) -> None:
    proc, url = start_redis(tmp_path)
    try:
        assert url.startswith("unix://")
        redis.Redis.from_url(url).set("k", "over the socket")

        async def main() -> None:
            client = client_for(url)
            assert await client.execute("GET", "k") == b"over the socket"
            with pytest.raises(redis.ResponseError, match="no permissions"):  # the ACL holds here too
                await client.execute("CONFIG", "GET", "dir")
            await client.close()

        asyncio.run(main())
    finally:
        shutdown([("redis", proc)])


def test_password_and_database_from_the_url(r: redis.Redis, redis_url: str) -> None:
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    redis.Redis.from_url(redis_url.replace("/0", "/3")).set("k", "in db 3")
    r.config_set("requirepass", "s3cret")
    r.auth("s3cret")

    async def main() -> None:
        good = client_for(f"redis://:s3cret@127.0.0.1:{port}/3")
        assert await good.execute("GET", "k") == b"in db 3"
        await good.close()
        with pytest.raises(redis.ResponseError):  # a wrong password is Redis's own error, not a hang
            await client_for(f"redis://:wrong@127.0.0.1:{port}/3").execute("GET", "k")

    asyncio.run(main())


def test_tls_urls_are_left_to_redis_py() -> None:
    assert PipelinedRedis.from_url("rediss://example.com:6380/0") is None
    assert PipelinedRedis.from_url("redis://example.com:6379/0") is not None


def test_a_client_used_from_a_new_event_loop_opens_a_connection_there(r: redis.Redis, redis_url: str) -> None:
    r.set("k", "v")
    client = client_for(redis_url)
    assert asyncio.run(client.execute("GET", "k")) == b"v"
    assert asyncio.run(client.execute("GET", "k")) == b"v"  # the first loop, and its connection, are gone


def test_a_server_that_does_not_speak_redis_is_a_connection_error() -> None:
    async def main() -> None:
        async def not_redis(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(100)
            writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            await writer.drain()

        server = await asyncio.start_server(not_redis, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = client_for(f"redis://127.0.0.1:{port}/0")
        with pytest.raises(redis.ConnectionError, match="not the Redis protocol"):
            await client.execute("GET", "k")
        server.close()

    asyncio.run(main())
