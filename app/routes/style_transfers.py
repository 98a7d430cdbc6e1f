"""POST /v1/style-transfers: validate the images and fields, then queue a style-transfer job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Response, UploadFile

from app.deps import CallerDep, CeleryDep, SettingsDep, StoreDep
from app.images import ImageRejected, check_image
from app.routes.submit import WEBHOOK_FIELDS, submit_job
from app.schemas import Init, Job, JobKind, Mode, StyleTransferParams
from app.settings import Settings
from app.store import JobStore
from app.validation import Images, InvalidParams, check_style_fields, check_style_images

router = APIRouter(prefix="/v1/style-transfers", tags=["style transfer"])


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
    try:
        check_style_fields(params, settings, content is not None, len(styles))
        _check_plannable(params, store)
        inputs, sizes = _read_images(params, content, styles, settings)
        check_style_images(params, settings, sizes)
    except InvalidParams as exc:
        raise _field_error(exc.field, exc.message, exc.status) from exc
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


def _read_images(
    params: StyleTransferParams, content: UploadFile | None, styles: list[UploadFile], settings: Settings
) -> tuple[dict[str, bytes], Images]:
    """The uploads the mode uses, by the names they are stored under, and their sizes from the headers."""
    inputs: dict[str, bytes] = {}
    content_size = None
    if params.mode.needs_content and content is not None:
        inputs["content"], content_size = _read_image(content, "content", settings)
    style_sizes = []
    if params.mode.needs_style or params.init is Init.style:
        for i, upload in enumerate(styles):
            inputs[f"style{i}"], size = _read_image(upload, "style", settings)
            style_sizes.append(size)
    return inputs, Images(content_size, style_sizes)


def _check_plannable(params: StyleTransferParams, store: JobStore) -> None:
    """422 on `size` when no live worker could plan the job within its memory (each publishes its largest size
    with its heartbeat; with no worker alive, nothing is known yet and the job waits in the queue)."""
    limit = store.workers.largest_plannable_size(dream=params.mode is Mode.dream)
    if limit is not None and params.size > limit:
        what = "a dream" if params.mode is Mode.dream else "a job"
        raise _field_error(
            "size",
            f"size {params.size} is larger than the workers can plan {what} for within their memory "
            f"(at most {limit} px); ask for a smaller size, or give the workers more memory",
        )


def _read_image(upload: UploadFile, field: str, settings: Settings) -> tuple[bytes, tuple[int, int]]:
    """The bytes and header size of an upload; 413/415/422 naming the field unless an image within the limits."""
    data = upload.file.read()
    try:
        return data, check_image(data, field, settings.max_image_pixels)
    except ImageRejected as exc:
        raise _field_error(exc.field, exc.message, exc.status) from exc
