"""Every error of the API is JSON `{"detail": ...}`, whichever layer refuses the request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

UNKNOWN = "0" * 32


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", f"/v1/jobs/{UNKNOWN}", {}, 404),  # an unknown job
        ("GET", "/v1/no-such-resource", {}, 404),  # an unknown path
        ("PUT", "/v1/jobs", {}, 405),  # a method the resource does not take
        ("POST", "/v1/style-transfers", {"content": b"x", "headers": {"Content-Type": "text/plain"}}, 415),
        ("POST", "/v1/style-transfers", {"files": [("content", ("c.png", b"not an image"))]}, 422),
        ("POST", "/v1/wave-forecasts", {"content": b"{bad", "headers": {"Content-Type": "application/json"}}, 422),
        ("POST", "/v1/style-transfers", {"files": [("content", ("big.png", b"\0" * (21 * 1024 * 1024)))]}, 413),
    ],
)
def test_errors_are_json_with_a_detail(
    client: httpx.Client, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    r = client.request(method, path, **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json", r.headers
    detail = r.json()["detail"]
    assert detail and " object at 0x" not in str(detail)
