"""CSV bodies for `POST /v1/wave-forecasts`: `text/csv`, or a multipart form with the CSV in its `series` file.

An ASGI middleware turns such a request into the JSON request the route takes (`{"series": [...], "timestamps":
[...], <the other fields>}`), so every field is still validated once, by `WaveForecastRequest`. The other fields
come from the query string (text/csv) or the form's fields (multipart). A CSV that cannot be read gets a 422
naming its row and column before anything is enqueued. A CSV request is a JSON request in another form, so
`STYLEWAVE_MAX_JSON_BYTES` caps it too (413): the text/csv body, or the multipart body less a little room for
the form's own fields and boundaries.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.csv_series import CSVError, parse_csv
from app.schemas import MAX_HISTORY, MAX_HORIZON, WaveForecastRequest

PATH = "/v1/wave-forecasts"
CSV_TYPES = ("text/csv", "multipart/form-data")
FORM_OVERHEAD = 64 * 1024  # a multipart body's boundaries, part headers and small fields, beside the CSV


class BadBody(Exception):
    """A request that gets `status` with `detail` instead of reaching the route."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status, self.detail = status, detail


def content_type(scope: Scope) -> str:
    headers = dict(scope.get("headers", []))
    return headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()


def field_error(field: str, message: str) -> BadBody:
    """A 422 in the shape of the schema's own: one error naming the field."""
    return BadBody(422, [{"loc": ["body", field], "msg": f"{field}: {message}", "type": "value_error"}])


class CSVForecastBody:
    """Replace a CSV forecast request by its JSON equivalent; pass everything else through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].rstrip("/") == PATH
            and content_type(scope) in CSV_TYPES
        ):
            await self.app(scope, receive, send)
            return
        settings = scope["app"].state.settings
        try:
            body = await json_body(scope, receive, settings.max_json_bytes)
        except BadBody as exc:
            await JSONResponse({"detail": exc.detail}, exc.status)(scope, receive, send)
            return
        await self.app(_as_json(scope, body), _replay(body), send)


async def json_body(scope: Scope, receive: Receive, max_json: int) -> bytes:
    """The JSON request equivalent to a text/csv or multipart request (whose body is capped near `max_json`)."""
    if content_type(scope) == "text/csv":
        data = await _read(receive, max_json)
        fields = _query_fields(scope)
    else:
        data, fields = await _form(scope, await _read(receive, max_json + FORM_OVERHEAD))
    return json.dumps(request_from_csv(data, fields)).encode()


def request_from_csv(data: bytes, fields: dict[str, Any]) -> dict[str, Any]:
    """`{"series": rows, "timestamps": next steps (when the CSV has them), **fields}`; a CSVError is a 422."""
    try:
        parsed = parse_csv(data, max_rows=MAX_HISTORY)
    except CSVError as exc:
        raise field_error("series", str(exc)) from None
    body: dict[str, Any] = {**fields, "series": parsed.series}
    horizon = _horizon(fields.get("horizon"))
    if parsed.timestamps is not None and horizon is not None:
        body["timestamps"] = parsed.next_timestamps(horizon)
    return body


def _horizon(value: Any) -> int | None:
    """The requested horizon if it is a valid one (else the schema will say why), or the default."""
    if value is None:
        return int(WaveForecastRequest.model_fields["horizon"].default)
    try:
        horizon = int(str(value))
    except ValueError:
        return None
    return horizon if 1 <= horizon <= MAX_HORIZON else None


def _collect(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Fields from (name, value) pairs; a repeated name becomes a list."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key not in out:
            out[key] = value
        elif isinstance(out[key], list):
            out[key].append(value)
        else:
            out[key] = [out[key], value]
    return out


def _query_fields(scope: Scope) -> dict[str, Any]:
    query = scope.get("query_string", b"").decode("latin-1")
    return _collect(parse_qsl(query, keep_blank_values=True))


async def _form(scope: Scope, data: bytes) -> tuple[bytes, dict[str, Any]]:
    """The `series` file and the other fields of a multipart form."""
    request = Request(scope, _replay(data))
    try:
        form = await request.form(max_files=1, max_fields=64)
    except Exception as exc:  # starlette's MultiPartException and malformed bodies alike
        raise BadBody(400, f"the multipart form cannot be read: {exc}") from None
    series = form.get("series")
    if not isinstance(series, UploadFile):
        raise field_error("series", "a multipart request needs the CSV as a file field named `series`")
    fields = _collect([(k, v) for k, v in form.multi_items() if k != "series"])
    if any(isinstance(v, UploadFile) for v in fields.values()):
        raise field_error("series", "only the `series` field may be a file")
    return await series.read(), fields


async def _read(receive: Receive, limit: int) -> bytes:
    """The whole request body, or a 413 as soon as it passes `limit` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadBody(400, "the client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BadBody(413, f"the CSV body is over the limit of {limit} bytes (STYLEWAVE_MAX_JSON_BYTES)")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _as_json(scope: Scope, body: bytes) -> Scope:
    headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return {**scope, "headers": headers}


def _replay(body: bytes) -> Receive:
    """A `receive` that hands over `body` once, then waits like a quiet client."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def openapi_body() -> dict[str, Any]:
    """The route's `openapi_extra`: the CSV forms of the request body, beside the JSON one."""
    csv_doc = (
        "A header row, then one row per step, oldest first, one column per channel. A column whose values are "
        "all ISO 8601 dates or datetimes is the timestamp column: its step is inferred and the result carries "
        "`timestamps`, the forecast steps' own. The other fields go in the query string (text/csv) or as form "
        "fields (multipart). A bad CSV gets a 422 naming its row (a line of the file; the header is row 1) and "
        "column."
    )
    form = {
        "type": "object",
        "required": ["series"],
        "properties": {
            "series": {"type": "string", "format": "binary", "description": "The CSV file."},
            "horizon": {"type": "integer", "minimum": 1, "maximum": MAX_HORIZON},
            "model": {"type": "string"},
            "season_length": {"type": "string", "description": "Periods in steps, comma-separated."},
        },
    }
    return {
        "requestBody": {
            "content": {
                "text/csv": {"schema": {"type": "string", "description": csv_doc}},
                "multipart/form-data": {"schema": form},
            }
        }
    }
