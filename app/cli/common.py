"""What the client commands share: exit codes and one-line failures, the progress bar, and server runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from app.client import Client, ServiceError, describe_detail, job_failure
from app.schemas import WebhookFields
from app.settings import get_settings
from app.validation import InvalidParams

err = Console(stderr=True, highlight=False)

# Exit codes of the client commands (the README lists them):
EXIT_OK = 0
EXIT_FAILED = 1  # the job failed or was canceled, or the service could not be reached or failed (5xx)
EXIT_BAD_INPUT = 2  # bad options or inputs, refused before any work or upload (typer's usage errors are 2 too)
EXIT_REFUSED = 3  # the service refused the request: 4xx (its limits, a missing or wrong key, a full queue...)
EXIT_INTERRUPTED = 130  # Ctrl-C; a job on a server is canceled first

ServerOpt = Annotated[
    str | None,
    typer.Option(help="Submit to the service at this URL instead of running locally \\[env STYLEWAVE_SERVER]"),
]
ApiKeyOpt = Annotated[
    str | None, typer.Option(help="API key for --server, sent as a Bearer token \\[env STYLEWAVE_API_KEY]")
]

T = TypeVar("T")

Show = Callable[[float, str], None]  # a progress bar's update: (fraction, status line)


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


def checked(check: Callable[[], T]) -> T:
    """A local run's request through the API's own whole check (app/validation.py, this machine's settings).

    A refusal is the API's message, one `error:` line, exit 2: nothing has run yet.
    """
    try:
        return check()
    except InvalidParams as exc:
        fail(describe_detail([{"loc": [exc.field], "msg": exc.message}]), EXIT_BAD_INPUT)


@contextmanager
def progress_bar(label: str) -> Iterator[Show]:
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


def server_from(server: str | None, api_key: str | None) -> tuple[str | None, str | None]:
    """The service URL and key: the options, else STYLEWAVE_SERVER / STYLEWAVE_API_KEY; no URL means a local run."""
    settings = get_settings()
    url = settings.server if server is None else server
    return (url.strip() or None) if url else None, api_key if api_key is not None else settings.api_key


def writable(path: Path | None, option: str) -> None:
    """Refuse, before any work, an output path whose directory does not exist (it is never created)."""
    if path is not None and not path.parent.is_dir():
        fail(f"{option}: directory {path.parent} does not exist", EXIT_BAD_INPUT)


def local_only(params: WebhookFields, server: str | None) -> None:
    """Refuse what only a service can do: a local run sends no webhooks."""
    if server is None and params.webhook is not None:
        fail("webhook: a local run sends no webhooks; give --server (or STYLEWAVE_SERVER) to use one", EXIT_BAD_INPUT)


def run_on_server(
    server: str,
    api_key: str | None,
    submit: Callable[[Client], dict[str, Any]],
    fetch: Callable[[Client, dict[str, Any]], T],
    show: Show,
) -> T:
    """Submit a job, print its id, follow it with the progress bar, and fetch its outputs; a refusal is one line."""
    with Client(server, api_key) as client:
        try:
            job = _follow(client, submit(client), show)
            if job["status"] != "succeeded":
                fail(job_failure(job))
            return fetch(client, job)
        except ServiceError as exc:
            refused = 400 <= exc.status < 500 and exc.status != 409  # 409: the job's state, not the request
            fail(str(exc), EXIT_REFUSED if refused else EXIT_FAILED)


def _follow(client: Client, job: dict[str, Any], show: Show) -> dict[str, Any]:
    """Print a submitted job's id, then poll it, showing its progress (queue position while queued).

    Ctrl-C cancels the job from the moment its id is printed: whoever sees the id can interrupt.
    """

    def update(j: dict[str, Any]) -> None:
        if j["status"] == "queued":
            pos = j.get("queue_position")
            status = f"queued, position {pos}" if pos else "queued"
        else:
            status = j.get("message") or j["status"]
        show(float(j.get("progress") or 0.0), status)

    try:
        err.print(f"job {job['id']} submitted: {client.base_url}/v1/jobs/{job['id']}", soft_wrap=True)
        return client.wait(job, update)
    except KeyboardInterrupt:
        try:
            client.cancel(job["id"])
        except ServiceError:
            pass
        fail(f"interrupted; job {job['id']} canceled", EXIT_INTERRUPTED)
