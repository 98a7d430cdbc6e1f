"""Owner ids: which API key a job belongs to, without storing anything from which the key can be found.

An owner id is the first 32 hex digits of HMAC-SHA256(server secret, API key). The secret is
`STYLEWAVE_OWNER_SECRET` when set; otherwise the first API process that needs it generates 32 random bytes
and keeps them in Redis (`SET NX`), as the webhook secret is kept (app/webhooks.py), so that every API
process on that Redis computes the same ids, across restarts. Set the variable to keep the secret out of
Redis: then a copy of Redis's data alone cannot test guesses of a key against the ids in it.

Ids of older versions were a bare SHA-256 prefix of the key. The first time a key is used after an
upgrade, its jobs are moved to its new id (records, index, queued share), so nothing is lost.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from starlette.concurrency import run_in_threadpool

from app.settings import Settings
from app.store import JobStore

SECRET_KEY = "sw:secret:owner"


def owner_id(api_key: str, secret: bytes) -> str:
    """The owner id of `api_key`: HMAC-SHA256 under the server secret, 128 bits in hex."""
    return hmac.new(secret, api_key.encode(), hashlib.sha256).hexdigest()[:32]


def legacy_owner_id(api_key: str) -> str:
    """The owner id of versions before the HMAC (a bare SHA-256 prefix): only to move old jobs."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:32]


class Owners:
    """Maps API keys to owner ids for one API process (the secret is read once, each key moved once)."""

    def __init__(self, settings: Settings, store: JobStore) -> None:
        self.settings, self.store = settings, store
        self._secret: bytes | None = settings.owner_secret.encode() if settings.owner_secret else None
        self._ids: dict[str, str] = {}

    async def id_of(self, api_key: str) -> str:
        owner = self._ids.get(api_key)
        if owner is None:
            owner = owner_id(api_key, await self._load_secret())
            # Jobs of this key stored under its pre-HMAC id move to the new one (a no-op once done).
            await run_in_threadpool(self.store.migrate_owner, legacy_owner_id(api_key), owner)
            self._ids[api_key] = owner
        return owner

    async def _load_secret(self) -> bytes:
        if self._secret is None:
            r: Any = self.store.ar
            await r.set(SECRET_KEY, secrets.token_hex(32), nx=True)
            self._secret = bytes(await r.get(SECRET_KEY))
        return self._secret
