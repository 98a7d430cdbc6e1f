"""The `stylewave` command: serve (all-in-one), api, worker, and the client commands stylize / forecast."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.logs import setup_logging
from app.settings import get_settings

cli = typer.Typer(
    name="stylewave",
    help="Neural style transfer and wave forecasting as a job service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [env STYLEWAVE_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env STYLEWAVE_PORT, default 8000]")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory [env STYLEWAVE_DATA_DIR]")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes to start")] = 1,
) -> None:
    """Run everything: an embedded Redis (unless STYLEWAVE_REDIS_URL is set), workers and the API."""
    from app.embedded import run_all

    setup_logging()
    s = get_settings()
    code = run_all(host=host or s.host, port=port or s.port, data_dir=data_dir or s.data_dir, workers=workers,
                   redis_url=s.redis_url)  # fmt: skip
    raise typer.Exit(code)


@cli.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address [env STYLEWAVE_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env STYLEWAVE_PORT]")] = None,
    processes: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Run the HTTP API alone (uvicorn); it needs STYLEWAVE_REDIS_URL."""
    import uvicorn

    setup_logging()
    s = get_settings()
    uvicorn.run("app.main:create_app", factory=True, host=host or s.host, port=port or s.port,
                workers=processes, log_config=None, access_log=False)  # fmt: skip


@cli.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma list of queues to consume")] = "style,forecast",
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once (one process each)")] = 1,
    name: Annotated[str, typer.Option(help="Celery node name")] = "stylewave@%h",
    loglevel: Annotated[str, typer.Option(help="Log level")] = "INFO",
) -> None:
    """Run a Celery worker alone, against STYLEWAVE_REDIS_URL: the way to scale out."""
    # The worker is started through Celery's own CLI so that this module never imports the torch side.
    argv = [sys.executable, "-m", "celery", "-A", "workers.celery_app:celery", "worker",
            "-Q", queues, "-c", str(concurrency), "-n", name, "-l", loglevel, "--pool", "prefork",
            "--without-gossip", "--without-mingle"]  # fmt: skip
    sys.stdout.flush()
    os.execv(sys.executable, argv)


def main() -> None:
    logging.captureWarnings(True)
    cli()


if __name__ == "__main__":
    main()
