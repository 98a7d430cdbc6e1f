"""What the client commands share: exit codes and one-line failures, the progress bar, and server runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from app.client import Client, ServiceError, describe_detail, job_failure

err = Console(stderr=True, highlight=False)

# Exit codes of the client commands: bad input (like a usage error), the service or the job failed, Ctrl-C.
EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130

ServerOpt = Annotated[str | None, typer.Option(help="Submit to the service at this URL instead of running locally")]
ApiKeyOpt = Annotated[str | None, typer.Option(help="API key for --server (sent as a Bearer token)")]

T = TypeVar("T")


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print one clear line and exit non-zero: the client commands never show a traceback."""
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def validated(schema: Callable[[Any], T], raw: Any) -> T:
    """`raw` validated by the API's own schema (e.g. `Model.model_validate`), or a one-line failure naming fields."""
    try:
        return schema(raw)
    except ValidationError as exc:
        fail(describe_detail([{"loc": e["loc"], "msg": e["msg"]} for e in exc.errors()]), EXIT_BAD_INPUT)


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[float, str], None]]:
    """A rich progress bar on stderr (stdout stays clean for results); yields `show(fraction, status)`.

    The bar clears itself when done.
    """
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(label, total=1.0, status="")
        yield lambda fraction, status: bar.update(task, completed=fraction, status=status)
        bar.update(task, completed=1.0, status="done")


@contextmanager
def local_errors(what: str) -> Iterator[None]:
    """A local run's failures as one line: bad arguments (ValueError), the algorithm's errors, Ctrl-C."""
    try:
        yield
    except ValueError as exc:  # models/ reports arguments it cannot use (e.g. a missing image) this way
        fail(str(exc), EXIT_BAD_INPUT)
    except RuntimeError as exc:
        fail(f"{what} failed: {exc}")
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)


def run_on_server(
    server: str,
    api_key: str | None,
    submit: Callable[[Client], dict[str, Any]],
    fetch: Callable[[Client, dict[str, Any]], T],
    show: Callable[[float, str], None],
) -> T:
    """Submit a job, follow it with the progress bar, and fetch its outputs; any refusal is one line."""
    with Client(server, api_key) as client:
        try:
            job = _follow(client, submit(client), show)
            if job["status"] != "succeeded":
                fail(job_failure(job))
            return fetch(client, job)
        except ServiceError as exc:
            fail(str(exc), EXIT_BAD_INPUT if 400 <= exc.status < 500 and exc.status != 409 else EXIT_FAILED)


def _follow(client: Client, job: dict[str, Any], show: Callable[[float, str], None]) -> dict[str, Any]:
    """Poll a submitted job, showing its progress (queue position while queued); cancel it on Ctrl-C."""

    def update(j: dict[str, Any]) -> None:
        if j["status"] == "queued":
            pos = j.get("queue_position")
            status = f"queued, position {pos}" if pos else "queued"
        else:
            status = j.get("message") or j["status"]
        show(float(j.get("progress") or 0.0), status)

    try:
        return client.wait(job, update)
    except KeyboardInterrupt:
        try:
            client.cancel(job["id"])
        except ServiceError:
            pass
        fail(f"interrupted; job {job['id']} canceled", EXIT_INTERRUPTED)
