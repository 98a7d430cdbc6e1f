"""The bookkeeping of jobs, in Redis: what the API and the workers share, and all they share.

`jobs.py` is the heart: `JobStore`, the records and their status transitions (`start`, `succeed`, `fail`,
`cancel`, `worker_lost`). Around it: `keys.py` (every Redis key, the key map), `errors.py` (what a store call
raises), `events.py` (each job's event stream), `registry.py` (workers' heartbeats and leases), `stats.py`
(the counters behind /metrics) and `model_cache.py` (trained forecast models). Nothing here imports HTTP,
Celery or torch.
"""

from app.store.errors import AlreadyRunning, QueueFull, StaleDelivery, TransitionError, UnknownJob
from app.store.jobs import JobStore, run_token

__all__ = ["AlreadyRunning", "JobStore", "QueueFull", "StaleDelivery", "TransitionError", "UnknownJob", "run_token"]
