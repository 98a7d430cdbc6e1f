"""Who is alive: the workers' heartbeats and what each can plan, and leases, all on the Redis server's clock.

Each worker's Celery parent beats into `sw:workers` (and says its capacity in `sw:worker_capacity`); the API's
readiness, the 422 for a size no worker can plan, /metrics and the lost-worker reaper read them. A lease
(`sw:lease:{name}`) lets one process at a time act: the reaper, or the run of a job that holds its job.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from app.store.keys import WORKER_CAPACITY, WORKERS, lease_key

HEARTBEAT_STALE_SECONDS = 30.0  # the default of STYLEWAVE_WORKER_LOST_SECONDS
# Lua: stamp a heartbeat with the Redis server's clock, so that hosts with skewed clocks compare fairly.
_BEAT = "local t = redis.call('TIME'); redis.call('ZADD', KEYS[1], t[1] + t[2] / 1e6, ARGV[1]); return 1"
# Lua: take a free lease, or renew it when this holder has it.
_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""


class WorkerRegistry:
    """Heartbeats, capacities and leases; the job store's `workers`."""

    def __init__(self, client: redis.Redis) -> None:
        self.r: Any = client  # typed Any: redis-py annotates every reply as a sync/async union

    def now(self) -> float:
        """The Redis server's clock: heartbeats are stamped and judged by it alone."""
        seconds, micros = self.r.time()
        return float(seconds) + micros / 1e6

    def uptime_seconds(self) -> float:
        """How long the Redis server has run (a restart means no worker has had the chance to beat yet)."""
        return float(self.r.info("server")["uptime_in_seconds"])

    def heartbeat(self, worker_id: str, capacity: dict[str, int] | None = None) -> None:
        """Mark the worker alive, with what it can plan (`capacity`: memory_mb, max_size, max_size_dream) when given."""
        self.r.eval(_BEAT, 1, WORKERS, worker_id)
        if capacity is not None:
            self.r.hset(WORKER_CAPACITY, worker_id, json.dumps(capacity))

    def forget(self, worker_id: str) -> None:
        """A worker that stops cleanly leaves the registry at once."""
        self.r.zrem(WORKERS, worker_id)
        self.r.hdel(WORKER_CAPACITY, worker_id)

    def live(self, stale_seconds: float = HEARTBEAT_STALE_SECONDS) -> list[str]:
        """Workers that beat within `stale_seconds`; entries a day old are pruned."""
        now = self.now()
        self.r.zremrangebyscore(WORKERS, 0, now - 24 * 3600)
        members = self.r.zrangebyscore(WORKERS, now - stale_seconds, "+inf")
        return [m.decode() for m in members]

    def heartbeats(self) -> dict[str, float]:
        """Each worker's last heartbeat, on the Redis server's clock."""
        return {m.decode(): float(t) for m, t in self.r.zrange(WORKERS, 0, -1, withscores=True)}

    def largest_plannable_size(self, dream: bool = False) -> int | None:
        """The largest output size any live worker can plan within its memory (for a dream: in one piece);
        None when no live worker has said."""
        live = self.live()
        raw = self.r.hmget(WORKER_CAPACITY, live) if live else []
        key = "max_size_dream" if dream else "max_size"
        sizes = [int(json.loads(v)[key]) for v in raw if v is not None and key in json.loads(v)]
        return max(sizes) if sizes else None

    def hold_lease(self, name: str, holder: str, ttl_ms: int) -> bool:
        """Take the lease `name` if it is free, or renew it if `holder` has it; True while `holder` holds it."""
        return bool(self.r.eval(_LEASE, 1, lease_key(name), holder, ttl_ms))
