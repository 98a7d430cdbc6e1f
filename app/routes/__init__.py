"""The HTTP routes, one router per resource, mounted by `app/main.py`.

`style_transfers.py` and `wave_forecasts.py` validate and queue jobs through `submit.py` (backpressure, the
record, the task); `jobs.py` reads, follows, cancels and serves a job's outputs; `webhooks.py` the signing
secret; `health.py` liveness, readiness and metrics; `docs.py` the offline Swagger UI.
"""
