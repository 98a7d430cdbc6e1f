"""`stylewave forecast`: forecast waves or a CSV series, locally or on a server, and print or write the result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from app.cli import local
from app.cli.common import (
    EXIT_BAD_INPUT,
    ApiKeyOpt,
    ServerOpt,
    checked,
    err,
    fail,
    local_errors,
    local_only,
    progress_bar,
    run_on_server,
    server_from,
    validated,
    writable,
)
from app.cli.options import with_schema_options
from app.client import Client
from app.csv_series import CSVError, ParsedCSV, parse_csv
from app.schemas import ORIGINAL_WAVES, WaveForecastRequest
from app.settings import get_settings
from app.validation import validate_forecast_request


def forecast(
    waves: Annotated[
        Path | None, typer.Option(help="JSON file: a list of channels {offset, terms}, or a request body")
    ] = None,
    series: Annotated[Path | None, typer.Option(help="CSV file: one row per step, one column per channel")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the forecast JSON here")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write the forecast plot (PNG) here")] = None,
    *,
    server: ServerOpt = None,
    api_key: ApiKeyOpt = None,
    **options: Any,  # one per WaveForecastRequest field (app/cli/options.py)
) -> None:
    """Forecast waves N steps ahead (the original two-channel waves unless --waves or --series)."""
    server, api_key = server_from(server, api_key)
    writable(output, "--output")
    writable(plot, "--plot")
    raw = _request_body(waves, series, options)
    request = validated(WaveForecastRequest.model_validate, raw)
    local_only(request, server)
    if server is None:
        request = checked(lambda: validate_forecast_request(raw, get_settings()))
    with progress_bar("forecast") as show:
        if server is None:
            with local_errors("forecast"):
                body, plot_png = local.forecast(request, show, plot=plot is not None)
        else:

            def fetch(client: Client, job: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
                return client.result_json(job["id"]), client.plot(job["id"]) if plot is not None else b""

            body, plot_png = run_on_server(server, api_key, lambda client: client.submit_forecast(raw), fetch, show)
    for path, data in ((output, json.dumps(body, indent=1).encode()), (plot, plot_png)):
        if path is not None:
            path.write_bytes(data)
            err.print(f"wrote {path}")
    if output is None:
        _print_forecast(body)


# Options that describe generated waves; a --series run has none and ignores them.
_WAVE_OPTIONS = ("history", "noise_std")


def _request_body(waves: Path | None, series: Path | None, options: dict[str, Any]) -> dict[str, Any]:
    """The request body from the options: a waves JSON file, a series CSV file, or the original waves."""
    if waves is not None and series is not None:
        fail("give either --waves or --series, not both", EXIT_BAD_INPUT)
    body: dict[str, Any]
    if series is not None:
        parsed = _read_series(series)
        body = {"series": parsed.series}
        horizon = options.get("horizon") or WaveForecastRequest.model_fields["horizon"].default
        if parsed.timestamps is not None:  # the forecast's rows get the timestamps that follow the file's
            body["timestamps"] = parsed.next_timestamps(int(horizon))
    elif waves is not None:
        body = _read_waves(waves)
    else:
        body = {"waves": [channel.model_dump() for channel in ORIGINAL_WAVES]}
    given = {k: v for k, v in options.items() if v is not None}
    if "series" in body:
        given = {k: v for k, v in given.items() if k not in _WAVE_OPTIONS}
    return body | given


def _read_waves(path: Path) -> dict[str, Any]:
    """A list of channels, or a whole request body ({"waves": [...], "history": ...}), from a JSON file."""
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        fail(f"--waves: cannot read {path}: {exc}", EXIT_BAD_INPUT)
    body = {"waves": loaded} if isinstance(loaded, list) else dict(loaded) if isinstance(loaded, dict) else {}
    if not body:
        fail(f"--waves: {path} must hold a list of channels or an object with `waves`", EXIT_BAD_INPUT)
    return body


def _read_series(path: Path) -> ParsedCSV:
    """The CSV series, parsed as the API parses it (a header row; an optional ISO 8601 timestamp column)."""
    try:
        return parse_csv(path.read_bytes())
    except OSError as exc:
        fail(f"--series: cannot read {path}: {exc}", EXIT_BAD_INPUT)
    except CSVError as exc:
        fail(f"--series: {path}: {exc}", EXIT_BAD_INPUT)


def _print_forecast(body: dict[str, Any]) -> None:
    """A summary on stdout: the backtest scores of each model tried, and the first forecast steps."""
    out = Console(highlight=False)
    metrics = body.get("metrics", {})
    table = Table(title=f"backtest error (model used: {body.get('model', metrics.get('model'))})")
    for col in ("model", "rmse", "mae"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, score in sorted(metrics.get("backtest", {}).items(), key=lambda kv: kv[1].get("rmse", 0)):
        table.add_row(name, f"{score.get('rmse', float('nan')):.4g}", f"{score.get('mae', float('nan')):.4g}")
    out.print(table)
    if "forecast_rmse" in metrics:
        out.print(f"forecast RMSE against the true waves: {metrics['forecast_rmse']:.4g}")
    steps = body.get("forecast", [])
    start = int(body.get("start", 0))
    labels = body.get("timestamps") or [f"t={start + i}" for i in range(len(steps))]
    for label, row in zip(labels[:5], steps[:5], strict=False):
        out.print(f"{label}: " + ", ".join(f"{v:.4g}" for v in row))
    if len(steps) > 5:
        out.print(f"... {len(steps) - 5} more steps (use -o OUT.json for all)")


forecast = with_schema_options(forecast, WaveForecastRequest, exclude=("waves", "series"))
