"""`stylewave forecast`: forecast waves or a CSV series, locally or on a server, and print or write the result."""

from __future__ import annotations

import csv
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
    err,
    fail,
    local_errors,
    progress_bar,
    run_on_server,
    validated,
)
from app.client import Client
from app.schemas import WaveForecastRequest

# The original two-channel experiment (DESIGN.md): what `forecast` runs when given no waves or series.
ORIGINAL_WAVES: list[dict[str, Any]] = [
    {
        "offset": 5,
        "terms": [
            {"fn": "sin", "amplitude": 5, "period": 300, "phase": 0.2},
            {"fn": "cos", "amplitude": 10, "period": 200, "phase": 0.7},
        ],
    },
    {
        "offset": 7,
        "terms": [
            {"fn": "sin", "amplitude": 7, "period": 200, "phase": 0.7},
            {"fn": "cos", "amplitude": 14, "period": 300, "phase": 0.2},
        ],
    },
]


def forecast(
    waves: Annotated[
        Path | None, typer.Option(help="JSON file: a list of channels {offset, terms}, or a request body")
    ] = None,  # noqa: E501
    series: Annotated[Path | None, typer.Option(help="CSV file: one row per step, one column per channel")] = None,
    horizon: Annotated[int | None, typer.Option(help="Steps to forecast [default 23]")] = None,
    history: Annotated[int | None, typer.Option(help="Samples of the waves observed [default 3000]")] = None,
    model: Annotated[str | None, typer.Option(help="lstm | auto | lstm-seed | persistence | ar | harmonic")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed")] = None,
    noise_std: Annotated[float | None, typer.Option(help="Noise added to generated waves")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the forecast JSON here")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write the forecast plot (PNG) here")] = None,
    server: ServerOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Forecast waves N steps ahead (the original two-channel waves unless --waves or --series)."""
    raw = _request_body(waves, series, {"horizon": horizon, "model": model, "seed": seed}, history, noise_std)
    request = validated(WaveForecastRequest.model_validate, raw)
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
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            err.print(f"wrote {path}")
    if output is None:
        _print_forecast(body)


def _request_body(
    waves: Path | None, series: Path | None, options: dict[str, Any], history: int | None, noise_std: float | None
) -> dict[str, Any]:
    """The request body from the options: a waves JSON file, a series CSV file, or the original waves."""
    if waves is not None and series is not None:
        fail("give either --waves or --series, not both", EXIT_BAD_INPUT)
    if series is not None:
        body: dict[str, Any] = {"series": _read_series(series)}
    elif waves is not None:
        body = _read_waves(waves)
    else:
        body = {"waves": ORIGINAL_WAVES}
    if "series" not in body:
        options |= {"history": history, "noise_std": noise_std}
    body.update({k: v for k, v in options.items() if v is not None})
    return body


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


def _read_series(path: Path) -> list[list[float]]:
    """Rows of channels from a CSV file, oldest first; a non-numeric first row is taken as a header."""
    try:
        rows = [r for r in csv.reader(path.read_text().splitlines()) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"--series: cannot read {path}: {exc}", EXIT_BAD_INPUT)
    out: list[list[float]] = []
    for i, row in enumerate(rows):
        try:
            out.append([float(c) for c in row])
        except ValueError:
            if i == 0:
                continue  # header
            fail(f"--series: line {i + 1} of {path} is not numeric: {','.join(row)}", EXIT_BAD_INPUT)
    return out


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
    for i, row in enumerate(steps[:5]):
        out.print(f"t={start + i}: " + ", ".join(f"{v:.4g}" for v in row))
    if len(steps) > 5:
        out.print(f"... {len(steps) - 5} more steps (use -o OUT.json for all)")
