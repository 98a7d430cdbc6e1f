"""This deployment's limits on a request, in one place: the API checks them at its edge, and the worker checks
them again on every task message it takes (a forged or stale message is refused, and its job fails with
`invalid_params`).

`validate_style_request` and `validate_forecast_request` are the whole check (schema, settings' limits, and
the image headers): the worker and the CLI's local runs call them. The API calls the two halves of the style
check (`check_style_fields`, then `check_style_images` once it has read the headers) so that a bad field is
refused before the uploads are read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from app.images import ImageRejected, check_image
from app.schemas import DEFAULT_CONTENT_LAYERS, VGG19_LAYERS, Init, Mode, StyleTransferParams, WaveForecastRequest
from app.settings import Settings

MAX_STYLE_IMAGES = 8


class InvalidParams(ValueError):
    """A request this deployment refuses: `field` names the culprit, `status` is the HTTP code to answer with."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.status = field, message, status


@dataclass(frozen=True)
class Images:
    """The (width, height) of a request's images, read from their headers."""

    content: tuple[int, int] | None
    styles: list[tuple[int, int]]


def validate_style_request(
    raw: dict[str, Any], settings: Settings, content: bytes | None, styles: list[bytes]
) -> StyleTransferParams:
    """The whole check of a style request (its fields as a dict, its images as bytes); InvalidParams if refused."""
    params = _schema(StyleTransferParams, raw)
    check_style_fields(params, settings, content is not None, len(styles))
    sizes = Images(
        _header_size(content, "content", settings) if content is not None else None,
        [_header_size(s, "style", settings) for s in styles],
    )
    check_style_images(params, settings, sizes)
    return params


def validate_forecast_request(raw: dict[str, Any], settings: Settings) -> WaveForecastRequest:
    """The whole check of a forecast request (its limits are the schema's); InvalidParams if refused."""
    return _schema(WaveForecastRequest, raw)


def check_style_fields(params: StyleTransferParams, settings: Settings, has_content: bool, n_styles: int) -> None:
    """What the schema alone cannot check: the files the mode needs, and this deployment's limits."""
    if params.mode.needs_content and not has_content:
        raise InvalidParams("content", f"a content image is required for mode={params.mode}")
    if params.mode.needs_style and not n_styles:
        raise InvalidParams("style", f"at least one style image is required for mode={params.mode}")
    if n_styles > MAX_STYLE_IMAGES:
        raise InvalidParams("style", f"at most {MAX_STYLE_IMAGES} style images")
    if params.style_blend is not None and not params.mode.needs_style:
        raise InvalidParams("style_blend", f"mode={params.mode} uses no style images")
    if params.style_blend is not None and len(params.style_blend) != n_styles:
        raise InvalidParams("style_blend", f"{len(params.style_blend)} weights for {n_styles} style images")
    if params.size > settings.max_size:
        raise InvalidParams("size", f"size {params.size} exceeds the maximum of {settings.max_size}")
    if params.iterations is not None and params.iterations > settings.max_iterations:
        raise InvalidParams("iterations", f"at most {settings.max_iterations} iterations")
    if params.init is Init.content and not params.mode.needs_content:
        raise InvalidParams("init", "init=content needs a content image")
    if params.init is Init.style and not n_styles:
        raise InvalidParams("init", "init=style needs a style image")


def check_style_images(params: StyleTransferParams, settings: Settings, images: Images) -> None:
    """Pixel limits (each image, and all of a request's together: 413), and an output the layers can see."""
    named = ([("content", images.content)] if images.content else []) + [("style", s) for s in images.styles]
    for field, (w, h) in named:
        if w * h > settings.max_image_pixels:
            raise InvalidParams(field, f"image of {w}x{h} pixels exceeds the limit of {settings.max_image_pixels}", 413)
    total = sum(w * h for _, (w, h) in named)
    if total > settings.max_request_pixels:
        message = f"the images hold {total} pixels together, over the limit of {settings.max_request_pixels}"
        raise InvalidParams("style" if images.styles else "content", message, 413)
    reference = images.content if params.mode.needs_content and images.content else None
    reference = reference or (images.styles[0] if images.styles else None)
    if reference is not None:
        _check_output_size(params, reference, settings)


def needed_layers(params: StyleTransferParams) -> list[str]:
    """The VGG-19 layers a request reads on the output image (as models/nst/objective.py computes them)."""
    content_layers = params.content_layers or DEFAULT_CONTENT_LAYERS  # None: the mode's default
    if params.mode is Mode.dream:
        return params.sweep_content_layers or content_layers[:1]
    layers = list(params.sweep_content_layers or content_layers) if params.mode.needs_content else []
    if params.mode.needs_style:
        stacks = params.layer_stacks() or [params.style_layers]
        layers += [name for stack in stacks for name in stack]
    return layers


def min_edge(layer: str) -> int:
    """The shortest image edge, in pixels, at which `layer` still has a pixel: 2 ** (poolings before it)."""
    return 2 ** sum(1 for name in VGG19_LAYERS[: VGG19_LAYERS.index(layer) + 1] if name.startswith("pool"))


def output_size(width: int, height: int, longest: int) -> tuple[int, int]:
    """(width, height) scaled so the longest edge is `longest`, as `models.nst.imaging.fit_size` computes it."""
    if width >= height:
        return longest, max(1, round(height * longest / width))
    return max(1, round(width * longest / height)), longest


def _check_output_size(params: StyleTransferParams, reference: tuple[int, int], settings: Settings) -> None:
    """422 on `size` when the output's short edge is too small for the deepest layer the request reads."""
    deepest = max(needed_layers(params), key=VGG19_LAYERS.index)
    edge = min_edge(deepest)
    out = output_size(*reference, params.size)
    if min(out) >= edge:
        return
    w, h = reference
    smallest = max(1, math.floor((edge - 1) * max(w, h) / min(w, h)))  # below the answer: rounding may reach it
    while min(output_size(w, h, smallest)) < edge:
        smallest += 1
    hint = f"use size >= {smallest}" if smallest <= settings.max_size else "this image is too narrow for it"
    message = f"size {params.size} gives a {out[0]}x{out[1]} output, but layer {deepest} needs {edge} px or more "
    raise InvalidParams("size", message + f"on the short edge: {hint}")


def _header_size(data: bytes, field: str, settings: Settings) -> tuple[int, int]:
    try:
        return check_image(data, field, settings.max_image_pixels)
    except ImageRejected as exc:
        raise InvalidParams(exc.field, exc.message, exc.status) from exc


def _schema(model: Any, raw: dict[str, Any]) -> Any:
    """`model.model_validate(raw)`, its errors as one InvalidParams naming the first field."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "params"
        raise InvalidParams(field, str(first.get("msg", "invalid"))) from exc
