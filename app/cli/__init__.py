"""The `stylewave` command: the processes (serve, api, worker, webhooks) and the client commands (stylize, forecast).

`processes.py` launches the service's parts; `stylize.py` and `forecast.py` are the client commands, which
run a job on a server (`--server`) or in this process through `local.py`; `options.py` derives their options
from the API's request schemas, and `common.py` holds the rest they share.
"""

from __future__ import annotations

import logging

import typer

from app.cli import forecast, processes, stylize

cli = typer.Typer(
    name="stylewave",
    help="Neural style transfer and wave forecasting as a job service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cli.command()(processes.serve)
cli.command()(processes.api)
cli.command()(processes.worker)
cli.command()(processes.webhooks)
cli.command("stylize")(stylize.stylize)
cli.command("forecast")(forecast.forecast)


def main() -> None:
    logging.captureWarnings(True)
    cli()
