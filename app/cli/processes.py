"""The commands that launch the service's processes: serve (all-in-one), api, worker and webhooks."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.logs import setup_logging
from app.settings import get_settings


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address \\[env STYLEWAVE_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port \\[env STYLEWAVE_PORT, default 8000]")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory \\[env STYLEWAVE_DATA_DIR]")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes to start")] = 1,
) -> None:
    """Run everything: an embedded Redis (unless STYLEWAVE_REDIS_URL is set), workers and the API."""
    from app.embedded import run_all  # not needed by the other commands

    setup_logging()
    s = get_settings()
    code = run_all(
        host=host or s.host,
        port=port or s.port,
        data_dir=data_dir or s.data_dir,
        workers=workers,
        redis_url=s.redis_url,
    )
    raise typer.Exit(code)


def api(
    host: Annotated[str | None, typer.Option(help="Bind address \\[env STYLEWAVE_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port \\[env STYLEWAVE_PORT]")] = None,
    processes: Annotated[int | None, typer.Option(help="uvicorn processes \\[env STYLEWAVE_API_PROCESSES]")] = None,
) -> None:
    """Run the HTTP API alone (uvicorn); it needs STYLEWAVE_REDIS_URL."""
    import uvicorn  # not needed by the other commands

    from app.server import APP_FACTORY, HTTP_PROTOCOL

    setup_logging()
    s = get_settings()
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host or s.host,
        port=port or s.port,
        workers=processes or s.api_processes,
        http=HTTP_PROTOCOL,
        log_config=None,
        access_log=False,
    )


def worker(
    queues: Annotated[str, typer.Option(help="Comma list of queues to consume")] = "style,forecast",
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once (one process each)")] = 1,
    name: Annotated[str, typer.Option(help="Celery node name")] = "stylewave@%h",
    loglevel: Annotated[str, typer.Option(help="Log level")] = "INFO",
) -> None:
    """Run a Celery worker alone, against STYLEWAVE_REDIS_URL: the way to scale out."""
    # The worker is started through Celery's own CLI so that this module never imports the torch side.
    app = "workers.celery_app:celery"
    argv = [sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queues, "-c", str(concurrency), "-n", name]
    argv += ["-l", loglevel, "--pool", "prefork", "--without-gossip", "--without-mingle"]
    # Each job process would otherwise start one math thread per core: with several at once they fight for
    # the cores. Share the cores out unless the operator chose a thread count.
    if concurrency > 1 and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // concurrency))
    sys.stdout.flush()
    os.execv(sys.executable, argv)


def webhooks(
    concurrency: Annotated[int, typer.Option(min=1, help="Deliveries in flight at once (threads)")] = 8,
    name: Annotated[str, typer.Option(help="Celery node name")] = "webhooks@%h",
) -> None:
    """Run the webhook sender alone (the `webhooks` queue), beside the workers: for docker-compose."""
    from app.queue import webhook_worker_argv

    sys.stdout.flush()
    os.execv(sys.executable, webhook_worker_argv(sys.executable, name=name, concurrency=concurrency))
