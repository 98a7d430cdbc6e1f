"""POST /v1/style-transfers: validate the images and fields, then queue a style-transfer job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Response, UploadFile

from app.deps import CallerDep, CeleryDep, SettingsDep, StoreDep
from app.images import ImageRejected, check_image
from app.routes.submit import WEBHOOK_FIELDS, submit_job
from app.schemas import Init, Job, JobKind, StyleTransferParams
from app.settings import Settings

router = APIRouter(prefix="/v1/style-transfers", tags=["style transfer"])

MAX_STYLE_IMAGES = 8


def _field_error(field: str, message: str, status: int = 422) -> HTTPException:
    """The same shape as a schema validation error (app.main.invalid_request), so clients read both alike."""
    return HTTPException(status, [{"loc": ["body", field], "msg": f"{field}: {message}", "type": "value_error"}])


@router.post("", response_model=Job, status_code=202, responses={202: {"description": "Queued"}})
def create_style_transfer(
    settings: SettingsDep,
    store: StoreDep,
    celery: CeleryDep,
    owner: CallerDep,
    response: Response,
    params: Annotated[StyleTransferParams, Form()],
    content: Annotated[UploadFile | None, File(description="The content image (not for mode=style).")] = None,
    style: Annotated[
        list[UploadFile] | None, File(description="One or more style images (not for mode=content/dream).")
    ] = None,
) -> Job:
    """Queue a style transfer (or content / style reconstruction, or dream) of the uploaded images."""
    styles = style or []
    _check_fields(params, content, styles, settings)
    inputs: dict[str, bytes] = {}
    uploads = [("content", content)] if params.mode.needs_content and content is not None else []
    if params.mode.needs_style or params.init is Init.style:
        uploads += [(f"style{i}", f) for i, f in enumerate(styles)]
    for name, upload in uploads:
        inputs[name] = _read_image(upload, "content" if name == "content" else "style", settings)
    return submit_job(
        store=store,
        celery=celery,
        settings=settings,
        response=response,
        kind=JobKind.style_transfer,
        params=params.model_dump(mode="json", exclude=WEBHOOK_FIELDS),
        owner=owner,
        inputs=inputs,
        webhook=params,
    )


def _check_fields(
    params: StyleTransferParams, content: UploadFile | None, styles: list[UploadFile], settings: Settings
) -> None:
    """What the schema alone cannot check: the files the mode needs, and this deployment's limits."""
    if params.mode.needs_content and content is None:
        raise _field_error("content", f"a content image is required for mode={params.mode}")
    if params.mode.needs_style and not styles:
        raise _field_error("style", f"at least one style image is required for mode={params.mode}")
    if len(styles) > MAX_STYLE_IMAGES:
        raise _field_error("style", f"at most {MAX_STYLE_IMAGES} style images")
    if params.style_blend is not None and len(params.style_blend) != len(styles):
        raise _field_error("style_blend", f"{len(params.style_blend)} weights for {len(styles)} style images")
    if params.size > settings.max_size:
        raise _field_error("size", f"size {params.size} exceeds the maximum of {settings.max_size}")
    if params.iterations > settings.max_iterations:
        raise _field_error("iterations", f"at most {settings.max_iterations} iterations")
    if params.init is Init.content and not params.mode.needs_content:
        raise _field_error("init", "init=content needs a content image")
    if params.init is Init.style and not styles:
        raise _field_error("init", "init=style needs a style image")


def _read_image(upload: UploadFile, field: str, settings: Settings) -> bytes:
    """The upload's bytes, refused (413/415/422 naming the field) unless they are an image within the limits."""
    data = upload.file.read()
    try:
        check_image(data, field, settings.max_image_pixels)
    except ImageRejected as exc:
        raise _field_error(exc.field, str(exc).split(": ", 1)[1], exc.status) from exc
    return data
