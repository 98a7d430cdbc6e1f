"""The one settings class: every STYLEWAVE_* environment variable is read here and nowhere else."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Service configuration, from STYLEWAVE_* environment variables (or a .env file)."""

    model_config = SettingsConfigDict(env_prefix="STYLEWAVE_", env_file=".env", extra="ignore")

    redis_url: str | None = Field(
        default=None, description="Redis for broker + job store; unset means `serve` embeds its own."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    api_processes: int = Field(default=1, ge=1, description="uvicorn worker processes of `stylewave api`")
    data_dir: Path = Path("data")
    device: str = Field(default="auto", pattern="^(auto|cpu|cuda)$")
    vgg_weights: str | None = Field(
        default=None, description="Optional torchvision VGG-19 state dict; default: the Caffe weights."
    )

    max_upload_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    max_request_pixels: int = Field(
        default=100_000_000, description="All of a request's images together, from their headers (413 above)."
    )
    max_size: int = Field(
        default=4096, ge=16, description="Longest output edge a job may ask for (a worker must also plan it in memory)."
    )
    max_iterations: int = 10_000
    max_queued: int = 100
    max_queued_per_key: int | None = Field(
        default=None, ge=1, description="Jobs one API key may have waiting; default: half of max_queued."
    )
    store_high_water: float = Field(
        default=0.8, gt=0, le=1, description="Refuse new jobs (507) above this share of Redis's maxmemory."
    )
    redis_maxmemory: str = Field(
        default="1gb", description="maxmemory of the embedded Redis (policy noeviction); compose sets its own."
    )
    max_json_bytes: int = 4 * 1024 * 1024

    result_ttl_seconds: int = 7 * 24 * 3600
    job_time_limit_seconds: int = 3600
    max_attempts: int = Field(default=3, ge=1, description="Runs before a job that keeps losing its worker fails.")
    worker_heartbeat_seconds: float = Field(default=5.0, gt=0, description="How often each worker beats.")
    worker_lost_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A worker silent this long is lost: /readyz stops counting it, and its "
        "running job is requeued (app/reaper.py).",
    )
    reaper_interval_seconds: float = Field(default=5.0, gt=0, description="How often the lost-worker reaper looks.")
    worker_memory_mb: int | None = Field(
        default=None,
        ge=512,
        description="Memory a worker's style jobs may use together (MB); unset: 80% of the container's limit or RAM.",
    )

    api_keys: str = Field(default="", description="Comma list; empty means the service is open.")
    owner_secret: str | None = Field(
        default=None, description="HMAC key of owner ids (app/owners.py); unset: generated once, kept in Redis."
    )
    metrics_public: bool = Field(default=False, description="Serve /metrics without a key even when keys are set.")
    allowed_hosts: str = Field(
        default="", description="Comma list of Host names served besides localhost (`*.example.com`, or `*`)."
    )

    # The client side: `stylewave stylize|forecast` read these when --server / --api-key are not given.
    server: str | None = Field(default=None, description="CLI: the service to submit to; unset or empty: run locally.")
    api_key: str | None = Field(default=None, description="CLI: the key sent to --server (keeps it out of `ps`).")

    webhook_secret: str | None = Field(
        default=None, description="`whsec_<base64>`; unset: one is generated once and kept in Redis."
    )
    webhook_allow_private: bool = Field(
        default=False, description="Allow webhooks to loopback/private addresses (tests, private deployments)."
    )
    webhook_retry_base_seconds: float = Field(
        default=5.0, gt=0, description="First retry delay; each later one is 3x longer."
    )

    @property
    def broker_url(self) -> str:
        """The Redis that the API and workers share; a local default when none is configured."""
        return self.redis_url or "redis://127.0.0.1:6379/0"

    @property
    def api_key_set(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.api_keys.split(",") if k.strip())

    @property
    def run_lease_ms(self) -> int:
        """A running job's lease: renewed by its process every heartbeat, lost after three missed ones."""
        return int(3 * self.worker_heartbeat_seconds * 1000)

    @property
    def visibility_timeout(self) -> int:
        """Longer than any job may run, so Redis never hands a running job to a second worker."""
        return self.job_time_limit_seconds * 2 + 300


@lru_cache
def get_settings() -> Settings:
    return Settings()
