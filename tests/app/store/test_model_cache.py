"""The trained-model cache against a real redis-server: a mapping per owner."""

from __future__ import annotations

import pytest

from app.store import JobStore


def test_model_cache_mapping_is_per_owner(store: JobStore) -> None:
    cache = store.model_cache("alice")
    cache["k"] = b"weights"
    assert cache["k"] == b"weights" and "k" in cache and list(cache) == ["k"]
    assert "k" not in store.model_cache("bob") and list(store.model_cache("bob")) == []
    del cache["k"]
    with pytest.raises(KeyError):
        cache["k"]
