"""A small HTTP client for a running stylewave service: submit jobs, follow them, fetch their outputs.

The CLI's `--server` mode uses it; it is plain httpx, so scripts can use it too.
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

TERMINAL = frozenset({"succeeded", "failed", "canceled"})


class ServiceError(Exception):
    """The service refused a request or could not be reached; `str()` is one line for the user."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def describe_detail(detail: Any) -> str:
    """An API error `detail` as one line: FastAPI's 422 list of {loc, msg} becomes `field: msg; ...`."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if not isinstance(item, Mapping):
                parts.append(str(item))
                continue
            loc = [str(p) for p in item.get("loc", []) if p not in ("body", "query", "header", "path")]
            msg = str(item.get("msg", "invalid")).removeprefix("Value error, ")
            field = ".".join(loc)
            # The API may already name the field in its message; don't say it twice.
            parts.append(f"{field}: {msg}" if field and not msg.startswith(f"{field}:") else msg)
        return "; ".join(parts)
    return " ".join(str(detail).split())


class Client:
    """One service at `base_url`, with an optional API key sent as a Bearer token."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; any transport error or non-2xx answer becomes a ServiceError."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceError(f"cannot reach {self.base_url}: {exc or type(exc).__name__}") from exc
        if response.is_success:
            return response
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text or response.reason_phrase
        message = f"{response.status_code} {describe_detail(detail)}"
        if response.status_code == 401:
            message += " (set STYLEWAVE_API_KEY, or pass --api-key)"
        if response.status_code == 429 and "retry-after" in response.headers:
            message += f" (retry in {response.headers['retry-after']} s)"
        raise ServiceError(message, response.status_code)

    # ---- submit ------------------------------------------------------------------------------------------------
    def submit_style(self, content: Path | None, styles: list[Path], fields: Mapping[str, str]) -> dict[str, Any]:
        """POST /v1/style-transfers with the image files and the form fields; the queued job record."""
        named = ([("content", content)] if content is not None else []) + [("style", p) for p in styles]
        files: list[tuple[str, tuple[str, bytes, str]]] = []
        for name, path in named:
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            files.append((name, (path.name, path.read_bytes(), mime)))
        return self.request("POST", "/v1/style-transfers", files=files, data=dict(fields)).json()  # type: ignore[no-any-return]

    def submit_forecast(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /v1/wave-forecasts with a JSON body; the queued job record."""
        return self.request("POST", "/v1/wave-forecasts", json=dict(body)).json()  # type: ignore[no-any-return]

    # ---- follow ------------------------------------------------------------------------------------------------
    def job(self, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/jobs/{job_id}").json()  # type: ignore[no-any-return]

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self.request("DELETE", f"/v1/jobs/{job_id}").json()  # type: ignore[no-any-return]

    def wait(
        self, job: dict[str, Any], on_update: Callable[[dict[str, Any]], None] | None = None, poll_seconds: float = 0.3
    ) -> dict[str, Any]:
        """Poll until the job is finished, calling `on_update` with each record; the final record."""
        while True:
            if on_update is not None:
                on_update(job)
            if job["status"] in TERMINAL:
                return job
            time.sleep(poll_seconds)
            job = self.job(job["id"])

    # ---- outputs -----------------------------------------------------------------------------------------------
    def result_bytes(self, job_id: str) -> bytes:
        return self.request("GET", f"/v1/jobs/{job_id}/result").content

    def result_json(self, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/jobs/{job_id}/result").json()  # type: ignore[no-any-return]

    def plot(self, job_id: str) -> bytes:
        return self.request("GET", f"/v1/jobs/{job_id}/plot").content


def job_failure(job: Mapping[str, Any]) -> str:
    """A finished-but-not-succeeded job as one line."""
    if job["status"] == "canceled":
        return f"job {job['id']} was canceled"
    error = job.get("error") or {}
    return f"job {job['id']} failed ({error.get('code', 'error')}): {error.get('message', 'no message')}"
