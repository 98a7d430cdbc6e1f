"""`stylewave stylize`: one option per field of the API's form (`StyleTransferParams`), run locally or on a server."""

from __future__ import annotations

import inspect
import io
import time
import types
import typing
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic.fields import FieldInfo

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
from app.images import ImageRejected, check_image
from app.schemas import Mode, StyleTransferParams, WebhookFields
from app.settings import get_settings


def stylize(
    images: Annotated[
        list[Path],
        typer.Argument(
            help="CONTENT STYLE [STYLE...] for mode transfer; CONTENT alone for content/dream; STYLE... for style",
            metavar="CONTENT STYLE...",
            show_default=False,
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the result (PNG)")],
    *,
    device: Annotated[str | None, typer.Option(help="Local run: auto | cpu | cuda [env STYLEWAVE_DEVICE]")] = None,
    server: ServerOpt = None,
    api_key: ApiKeyOpt = None,
    **options: Any,  # one per StyleTransferParams field: see _with_form_options below
) -> None:
    """Style-transfer images, locally through the model or on a server (--server), with a progress bar."""
    # The form fields as the API receives them: strings, validated once by the same schema, before any work.
    fields = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in options.items() if v is not None}
    params = validated(StyleTransferParams.model_validate, fields)
    content, styles = _split_images(images, params.mode)
    content_bytes = _read_image(content, "content") if content is not None else None
    style_bytes = [_read_image(p, "style") for p in styles]  # refuse a missing or broken image before any work
    started = time.monotonic()
    with progress_bar("stylize") as show:
        if server is None:
            with local_errors("style transfer"):
                png = local.stylize(params, content_bytes, style_bytes, device, show)
        else:

            def submit(client: Client) -> dict[str, Any]:
                return client.submit_style(content, styles, fields)

            png = run_on_server(server, api_key, submit, lambda client, job: client.result_bytes(job["id"]), show)
    width, height = _save_image(png, output)
    err.print(f"wrote {output} ({width}x{height}) in {time.monotonic() - started:.1f} s")


def _split_images(images: list[Path], mode: Mode) -> tuple[Path | None, list[Path]]:
    """The positional images as (content, styles) for the mode."""
    if not mode.needs_content:
        return None, images
    if not mode.needs_style:
        if len(images) != 1:
            fail(f"mode {mode} takes exactly one image (the content), got {len(images)}", EXIT_BAD_INPUT)
        return images[0], []
    if len(images) < 2:
        fail(
            "give a content image and at least one style image: stylewave stylize CONTENT STYLE -o OUT.png",
            EXIT_BAD_INPUT,
        )
    return images[0], images[1:]


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


# ---- the options, derived from the API's schema -------------------------------------------------------------


def _form_option(name: str, field: FieldInfo) -> Any:
    """The typer option for one form field: its type for the help (numbers, a flag), its description, choices."""
    base = _strip_none(field.annotation)
    help_text = field.description or ""
    choices = _choices(base)
    if choices:
        help_text = f"{help_text} ({' | '.join(choices)})".strip()
    elif base in (list, dict) or typing.get_origin(base) in (list, dict):
        help_text = help_text or "Comma list."
    if base is bool:
        dashed = name.replace("_", "-")
        return Annotated[bool | None, typer.Option(f"--{dashed}/--no-{dashed}", help=help_text, show_default=False)]
    kind = base if base in (int, float) else str  # the rest travel as strings, exactly as in the HTTP form
    return Annotated[kind | None, typer.Option(help=help_text, show_default=False)]


def _strip_none(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    return args[0] if is_union and len(args) == 1 else annotation


def _choices(base: Any) -> list[str]:
    if isinstance(base, type) and issubclass(base, Enum):
        return [str(m.value) for m in base]
    if typing.get_origin(base) is typing.Literal:
        return [str(a) for a in typing.get_args(base)]
    return []


def _with_form_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` (which takes **options) one keyword option per `StyleTransferParams` field."""
    signature = inspect.signature(command, eval_str=True)
    params = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    head = [p for p in params if p.kind is not p.KEYWORD_ONLY]  # the images and --output
    tail = [p for p in params if p.kind is p.KEYWORD_ONLY]  # --device, --server, --api-key
    form = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=_form_option(name, field))
        for name, field in StyleTransferParams.model_fields.items()
        if name not in WebhookFields.model_fields  # the CLI follows the job itself
    ]
    new = signature.replace(parameters=[*head, *form, *tail])
    command.__signature__ = new  # type: ignore[attr-defined]  # typer reads the options from the signature
    command.__annotations__ = {p.name: p.annotation for p in new.parameters.values()} | {"return": None}
    return command


stylize = _with_form_options(stylize)
