"""`stylewave stylize`: one option per field of the API's form (`StyleTransferParams`), run locally or on a server."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Annotated, Any

import typer

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
from app.images import ImageRejected, check_image
from app.schemas import Mode, StyleTransferParams
from app.settings import get_settings
from app.validation import validate_style_request


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
    device: Annotated[str | None, typer.Option(help="Local run: auto | cpu | cuda \\[env STYLEWAVE_DEVICE]")] = None,
    server: ServerOpt = None,
    api_key: ApiKeyOpt = None,
    **options: Any,  # one per StyleTransferParams field (app/cli/options.py)
) -> None:
    """Style-transfer images, locally through the model or on a server (--server), with a progress bar."""
    server, api_key = server_from(server, api_key)
    writable(output, "--output")
    # The form fields as the API receives them: strings, validated once by the same schema, before any work.
    fields = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in options.items() if v is not None}
    params = validated(StyleTransferParams.model_validate, fields)
    local_only(params, server)
    content, styles = _split_images(images, params.mode)
    content_bytes = _read_image(content, "content") if content is not None else None
    style_bytes = [_read_image(p, "style") for p in styles]  # refuse a missing or broken image before any work
    if server is None:  # this machine's limits, checked as the API checks its own (a service checks its own)
        params = checked(lambda: validate_style_request(fields, get_settings(), content_bytes, style_bytes))
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

    image = Image.open(io.BytesIO(png))
    if output.suffix.lower() == ".png":
        output.write_bytes(png)
    else:
        try:
            image.convert("RGB").save(output)
        except (ValueError, OSError) as exc:
            fail(f"--output: cannot write {output}: {exc}", EXIT_BAD_INPUT)
    return image.size


stylize = with_schema_options(stylize, StyleTransferParams)
