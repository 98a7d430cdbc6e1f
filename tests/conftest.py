"""Shared fixtures. `service` is one real stack (redis-server, a worker, uvicorn) for the whole session;
`redis_url` is a real redis-server per test module, and `store` the real JobStore on it, emptied per test."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from app.embedded import shutdown, start_redis
from app.store import JobStore
from tests.stack import Stack


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("service")).start()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    shutdown([("redis", proc)], grace=5)


@pytest.fixture()
def store(redis_url: str) -> Iterator[JobStore]:
    s = JobStore.from_url(redis_url, ttl_seconds=60)
    s.r.flushdb()
    yield s
    s.r.close()


@pytest.fixture()
def client(service: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=30) as c:
        yield c


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def make_content(size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A small 'photo': a dark square on a light sky over green ground, with a soft gradient."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.float32)
    img[..., 0] = 150 + 60 * x / w
    img[..., 1] = 180 - 40 * y / h
    img[..., 2] = 230 - 100 * y / h
    img[y > h * 0.65] = (60, 140, 60)
    img[(abs(x - w * 0.4) < w * 0.15) & (abs(y - h * 0.45) < h * 0.2)] = (40, 30, 30)
    return Image.fromarray(img.clip(0, 255).astype(np.uint8))


def make_style(size: tuple[int, int] = (48, 48)) -> Image.Image:
    """A small 'painting': saturated blue and yellow diagonal strokes."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    stripes = (np.sin((x + y) / 3.0) > 0)[..., None]
    img = np.where(stripes, np.array([30, 60, 200]), np.array([240, 210, 40])).astype(np.uint8)
    return Image.fromarray(img)


@pytest.fixture()
def content_png() -> bytes:
    return _png(make_content())


@pytest.fixture()
def style_png() -> bytes:
    return _png(make_style())


@pytest.fixture()
def tmp_data(tmp_path: Path) -> Path:
    return tmp_path
