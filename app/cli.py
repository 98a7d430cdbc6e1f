"""The `stylewave` command: serve (all-in-one), api, worker, and the client commands stylize / forecast."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from app.client import Client, ServiceError, describe_detail, job_failure
from app.images import ImageRejected, check_image
from app.logs import setup_logging
from app.schemas import StyleTransferParams, WaveForecastRequest
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
    processes: Annotated[int | None, typer.Option(help="uvicorn processes [env STYLEWAVE_API_PROCESSES]")] = None,
) -> None:
    """Run the HTTP API alone (uvicorn); it needs STYLEWAVE_REDIS_URL."""
    import uvicorn

    setup_logging()
    s = get_settings()
    uvicorn.run("app.main:create_app", factory=True, host=host or s.host, port=port or s.port,
                workers=processes or s.api_processes, log_config=None, access_log=False)  # fmt: skip


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
    # Each job process would otherwise start one math thread per core: with several at once they fight for
    # the cores. Share the cores out unless the operator chose a thread count.
    if concurrency > 1 and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // concurrency))
    sys.stdout.flush()
    os.execv(sys.executable, argv)


# ---- client commands: stylize and forecast ----------------------------------------------------------------------

err = Console(stderr=True, highlight=False)

# Exit codes of the client commands: bad input (like a usage error), the service or the job failed, Ctrl-C.
EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130

# The original two-channel experiment (DESIGN.md): what `forecast` runs when given no waves or series.
ORIGINAL_WAVES: list[dict[str, Any]] = [
    {"offset": 5, "terms": [{"fn": "sin", "amplitude": 5, "period": 300, "phase": 0.2},
                            {"fn": "cos", "amplitude": 10, "period": 200, "phase": 0.7}]},
    {"offset": 7, "terms": [{"fn": "sin", "amplitude": 7, "period": 200, "phase": 0.7},
                            {"fn": "cos", "amplitude": 14, "period": 300, "phase": 0.2}]},
]  # fmt: skip

ServerOpt = Annotated[str | None, typer.Option(help="Submit to the service at this URL instead of running locally")]
ApiKeyOpt = Annotated[str | None, typer.Option(help="API key for --server (sent as a Bearer token)")]


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print one clear line and exit non-zero: the client commands never show a traceback."""
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def _validation_message(exc: ValidationError) -> str:
    return describe_detail([{"loc": e["loc"], "msg": e["msg"]} for e in exc.errors()])


@contextmanager
def progress_bar(label: str) -> Iterator[Progress]:
    """A rich progress bar on stderr (stdout stays clean for results); it clears itself when done."""
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=err, transient=True) as bar:
        bar.add_task(label, total=1.0, status="")
        yield bar


def follow_on_server(client: Client, job: dict[str, Any], bar: Progress) -> dict[str, Any]:
    """Poll a submitted job with the progress bar (queue position while queued); cancel it on Ctrl-C."""

    def show(j: dict[str, Any]) -> None:
        if j["status"] == "queued":
            pos = j.get("queue_position")
            status = f"queued, position {pos}" if pos else "queued"
        else:
            status = j.get("message") or j["status"]
        bar.update(bar.task_ids[0], completed=float(j.get("progress") or 0.0), status=status)

    try:
        return client.wait(job, show)
    except KeyboardInterrupt:
        try:
            client.cancel(job["id"])
        except ServiceError:
            pass
        fail(f"interrupted; job {job['id']} canceled", EXIT_INTERRUPTED)


def _read_image(path: Path, field: str) -> bytes:
    if not path.is_file():
        fail(f"{field}: no such file {path}", EXIT_BAD_INPUT)
    data = path.read_bytes()
    try:
        check_image(data, field, get_settings().max_image_pixels)
    except ImageRejected as exc:
        fail(f"{exc} ({path})", EXIT_BAD_INPUT)
    return data


def _save_image(png: bytes, output: Path) -> tuple[int, int]:
    """Write the result; PNG bytes as they are, other formats (by extension) through Pillow."""
    from PIL import Image

    output.parent.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(png))
    if output.suffix.lower() == ".png":
        output.write_bytes(png)
    else:
        try:
            image.convert("RGB").save(output)
        except (ValueError, OSError) as exc:
            fail(f"--output: cannot write {output}: {exc}", EXIT_BAD_INPUT)
    return image.size


def _stylize_locally(content: Path | None, styles: list[Path], params: StyleTransferParams, device: str | None,
                     bar: Progress) -> bytes:  # fmt: skip
    """Run the style transfer in this process through models/, with the progress bar; the PNG bytes."""
    # Lazy imports, on purpose and only here: app/ never imports torch, workers or models at module level
    # (the API process must stay torch-free). The local run is the one place the CLI needs the algorithm,
    # and it converts the validated params exactly as the worker does (workers.tasks.style_config).
    from PIL import Image

    from models import style as nst
    from workers.jobs import png_bytes, style_config

    settings = get_settings()

    def load(path: Path, field: str) -> Image.Image:
        return Image.open(io.BytesIO(_read_image(path, field))).convert("RGB")

    content_img = load(content, "content") if content is not None else None
    style_imgs = [load(p, "style") for p in styles]

    def on_progress(p: nst.Progress) -> None:
        loss = p.losses.get("total")
        status = f"step {p.step}/{p.total}" + (f", loss {loss:.4g}" if loss is not None else "")
        bar.update(bar.task_ids[0], completed=p.step / max(p.total, 1), status=status)

    try:
        result = nst.stylize(content_img, style_imgs, style_config(params),
                             device=nst.resolve_device(device or settings.device),
                             weights_path=settings.vgg_weights, on_progress=on_progress)  # fmt: skip
    except ValueError as exc:  # models/ reports bad arguments (e.g. a missing image for the mode) this way
        fail(str(exc), EXIT_BAD_INPUT)
    except RuntimeError as exc:
        fail(f"style transfer failed: {exc}")
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)
    return png_bytes(result.image)


@cli.command()
def stylize(
    images: Annotated[list[Path], typer.Argument(
        help="CONTENT STYLE [STYLE...] for mode transfer; CONTENT alone for content/dream; STYLE... for style",
        metavar="CONTENT STYLE...", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the result (PNG)")],
    size: Annotated[int | None, typer.Option(help="Longest edge of the output in pixels")] = None,
    iterations: Annotated[int | None, typer.Option(help="Optimisation steps, across all scales")] = None,
    mode: Annotated[str, typer.Option(help="transfer | content | style | dream")] = "transfer",
    content_weight: Annotated[float | None, typer.Option(help="alpha")] = None,
    style_weight: Annotated[float | None, typer.Option(help="beta")] = None,
    content_layers: Annotated[str | None, typer.Option(help="Comma list of VGG-19 layers")] = None,
    style_layers: Annotated[str | None, typer.Option(help="Comma list of VGG-19 layers")] = None,
    optimizer: Annotated[str | None, typer.Option(help="lbfgs | adam")] = None,
    init: Annotated[str | None, typer.Option(help="content | noise | style")] = None,
    seed: Annotated[int | None, typer.Option(help="Same inputs and seed give the same image")] = None,
    scales: Annotated[int | None, typer.Option(help="Coarse-to-fine scales")] = None,
    style_blend: Annotated[str | None, typer.Option(help="One weight per style image (comma list)")] = None,
    preserve_colors: Annotated[bool | None, typer.Option("--preserve-colors/--no-preserve-colors",
                                                         help="Keep the content's colours")] = None,
    tv_weight: Annotated[float | None, typer.Option(help="Total-variation smoothing weight")] = None,
    pooling: Annotated[str | None, typer.Option(help="max | avg")] = None,
    style_scale: Annotated[float | None, typer.Option(help="Style size relative to the output")] = None,
    sweep_style_weights: Annotated[str | None, typer.Option(help="Grid over style weights (comma list)")] = None,
    sweep_style_layers: Annotated[str | None, typer.Option(help="Grid over layer stacks: a|a+b|...")] = None,
    device: Annotated[str | None, typer.Option(help="Local run: auto | cpu | cuda [env STYLEWAVE_DEVICE]")] = None,
    server: ServerOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Style-transfer images, locally through the model or on a server (--server), with a progress bar."""
    given = {"mode": mode, "size": size, "iterations": iterations, "content_weight": content_weight,
             "style_weight": style_weight, "content_layers": content_layers, "style_layers": style_layers,
             "optimizer": optimizer, "init": init, "seed": seed, "scales": scales, "style_blend": style_blend,
             "preserve_colors": preserve_colors, "tv_weight": tv_weight, "pooling": pooling,
             "style_scale": style_scale, "sweep_style_weights": sweep_style_weights,
             "sweep_style_layers": sweep_style_layers}  # fmt: skip
    fields = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in given.items() if v is not None}
    try:  # validated once, by the same schema as the API, before any work
        params = StyleTransferParams.model_validate(fields)
    except ValidationError as exc:
        fail(_validation_message(exc), EXIT_BAD_INPUT)
    content, styles = _split_images(images, params.mode)
    for path, field in [(content, "content")] + [(p, "style") for p in styles]:
        if path is not None:
            _read_image(path, field)  # refuse a missing or broken image before any work starts
    started = time.monotonic()
    with progress_bar("stylize") as bar:
        if server is None:
            png = _stylize_locally(content, styles, params, device, bar)
        else:
            with Client(server, api_key) as client:
                try:
                    job = follow_on_server(client, client.submit_style(content, styles, fields), bar)
                    if job["status"] != "succeeded":
                        fail(job_failure(job))
                    png = client.result_bytes(job["id"])
                except ServiceError as exc:
                    fail(str(exc), EXIT_BAD_INPUT if 400 <= exc.status < 500 and exc.status != 409 else EXIT_FAILED)
        bar.update(bar.task_ids[0], completed=1.0, status="done")
    width, height = _save_image(png, output)
    err.print(f"wrote {output} ({width}x{height}) in {time.monotonic() - started:.1f} s")


def _split_images(images: list[Path], mode: str) -> tuple[Path | None, list[Path]]:
    """The positional images as (content, styles) for the mode."""
    if mode == "style":
        return None, images
    if mode in ("content", "dream"):
        if len(images) != 1:
            fail(f"mode {mode} takes exactly one image (the content), got {len(images)}", EXIT_BAD_INPUT)
        return images[0], []
    if len(images) < 2:
        fail("give a content image and at least one style image: stylewave stylize CONTENT STYLE -o OUT.png",
             EXIT_BAD_INPUT)
    return images[0], images[1:]


def _forecast_request(waves: Path | None, series: Path | None, horizon: int | None, history: int | None,
                      model: str | None, seed: int | None, noise_std: float | None) -> dict[str, Any]:  # fmt: skip
    """The request body from the options: a waves JSON file, a series CSV file, or the original waves."""
    if waves is not None and series is not None:
        fail("give either --waves or --series, not both", EXIT_BAD_INPUT)
    body: dict[str, Any] = {}
    if series is not None:
        body["series"] = _read_series(series)
    elif waves is not None:
        try:
            loaded = json.loads(waves.read_text())
        except (OSError, ValueError) as exc:
            fail(f"--waves: cannot read {waves}: {exc}", EXIT_BAD_INPUT)
        # A list of channels, or a whole request body ({"waves": [...], "history": ...}).
        body = {"waves": loaded} if isinstance(loaded, list) else dict(loaded) if isinstance(loaded, dict) else {}
        if not body:
            fail(f"--waves: {waves} must hold a list of channels or an object with `waves`", EXIT_BAD_INPUT)
    else:
        body["waves"] = ORIGINAL_WAVES
    options: dict[str, Any] = {"horizon": horizon, "model": model, "seed": seed}
    if "series" not in body:
        options |= {"history": history, "noise_std": noise_std}
    body.update({k: v for k, v in options.items() if v is not None})
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


def _forecast_locally(request: WaveForecastRequest, bar: Progress, want_plot: bool) -> tuple[dict[str, Any], bytes]:
    """Run the forecast in this process through models/; the result JSON (as the API's) and the plot."""
    # Lazy import, on purpose and only here: app/ never imports torch or models at module level; the local
    # run is the one place the CLI needs them.
    from workers.jobs import forecast_job

    def on_progress(fraction: float, message: str) -> None:
        bar.update(bar.task_ids[0], completed=fraction, status=message)

    try:
        return forecast_job(request, on_progress=on_progress, plot=want_plot)
    except ValueError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)


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


@cli.command()
def forecast(
    waves: Annotated[Path | None, typer.Option(help="JSON file: a list of channels {offset, terms}, or a request body")] = None,  # noqa: E501
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
    raw = _forecast_request(waves, series, horizon, history, model, seed, noise_std)
    try:
        request = WaveForecastRequest.model_validate(raw)
    except ValidationError as exc:
        fail(_validation_message(exc), EXIT_BAD_INPUT)
    with progress_bar("forecast") as bar:
        if server is None:
            body, plot_png = _forecast_locally(request, bar, want_plot=plot is not None)
        else:
            with Client(server, api_key) as client:
                try:
                    job = follow_on_server(client, client.submit_forecast(raw), bar)
                    if job["status"] != "succeeded":
                        fail(job_failure(job))
                    body = client.result_json(job["id"])
                    plot_png = client.plot(job["id"]) if plot is not None else b""
                except ServiceError as exc:
                    fail(str(exc), EXIT_BAD_INPUT if 400 <= exc.status < 500 and exc.status != 409 else EXIT_FAILED)
        bar.update(bar.task_ids[0], completed=1.0, status="done")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(body, indent=1))
        err.print(f"wrote {output}")
    if plot is not None:
        plot.parent.mkdir(parents=True, exist_ok=True)
        plot.write_bytes(plot_png)
        err.print(f"wrote {plot}")
    if output is None:
        _print_forecast(body)


def main() -> None:
    logging.captureWarnings(True)
    cli()


if __name__ == "__main__":
    main()
