"""The trained-model cache of the forecasting jobs, in Redis (`sw:model:{owner}:{key}`), so every worker shares it.

It is per owner: whether a model is cached tells that someone sent the same series, so one key's cache must
never answer another's request.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import redis

from app.store.keys import model_prefix


class ModelCache(MutableMapping[str, bytes]):
    """A MutableMapping over one owner's Redis string keys, so models/ can cache without knowing Redis."""

    def __init__(self, client: redis.Redis, owner: str, ttl: int) -> None:
        self.r: Any = client  # typed Any: redis-py annotates every reply as a sync/async union
        self.prefix, self.ttl = model_prefix(owner), ttl

    def __getitem__(self, key: str) -> bytes:
        value = self.r.get(self.prefix + key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: bytes) -> None:
        self.r.set(self.prefix + key, value, ex=self.ttl)

    def __delitem__(self, key: str) -> None:
        self.r.delete(self.prefix + key)

    def __iter__(self) -> Iterator[str]:
        for k in self.r.scan_iter(match=self.prefix + "*"):
            yield k.decode()[len(self.prefix) :]

    def __len__(self) -> int:
        return sum(1 for _ in self)
