"""Forecasts of CSV series and of short real-sized series through the real service."""

from __future__ import annotations

import math

import httpx
import numpy as np
import pytest

URL = "/v1/wave-forecasts"
WAIT = {"Prefer": "wait=60"}


def monthly(n: int = 144) -> np.ndarray:
    """An airline-sized monthly series: trend, a multiplicative yearly season, a little noise."""
    t = np.arange(n)
    noise = np.random.default_rng(0).normal(0, 0.02, n)
    return (100 + 2 * t) * (1 + 0.2 * np.sin(2 * np.pi * t / 12)) * np.exp(noise)


def monthly_csv(n: int = 30) -> str:
    rows = [f"{1949 + i // 12}-{i % 12 + 1:02d}-01,{v:.3f},{v / 2:.3f}" for i, v in enumerate(monthly(n))]
    return "month,passengers,half\n" + "\n".join(rows) + "\n"


def finished(client: httpx.Client, r: httpx.Response) -> dict:
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "succeeded", job.get("error")
    return client.get(f"/v1/jobs/{job['id']}/result").json()


def test_csv_body_with_timestamps_gets_the_next_timestamps(client: httpx.Client) -> None:
    r = client.post(
        f"{URL}?horizon=3&model=persistence",
        content=monthly_csv(),
        headers={"Content-Type": "text/csv", **WAIT},
        timeout=90,
    )
    result = finished(client, r)
    assert result["timestamps"] == ["1951-07-01", "1951-08-01", "1951-09-01"]
    assert np.array(result["forecast"]).shape == (3, 2) and result["channels"] == 2
    last = monthly(30)[-1]
    assert np.allclose(result["forecast"][0], [last, last / 2], atol=1e-3)


def test_multipart_csv_with_form_fields(client: httpx.Client) -> None:
    files = {"series": ("sales.csv", monthly_csv().encode(), "text/csv")}
    r = client.post(URL, files=files, data={"horizon": "2", "model": "ar"}, headers=WAIT, timeout=90)
    result = finished(client, r)
    assert result["timestamps"] == ["1951-07-01", "1951-08-01"] and result["model"] == "ar"


def test_csv_without_timestamps_has_none(client: httpx.Client) -> None:
    csv = "x\n" + "\n".join(str(math.sin(i / 3)) for i in range(40)) + "\n"
    r = client.post(
        f"{URL}?horizon=4&model=persistence", content=csv, headers={"Content-Type": "text/csv", **WAIT}, timeout=90
    )
    result = finished(client, r)
    assert "timestamps" not in result and np.array(result["forecast"]).shape == (4, 1)


@pytest.mark.parametrize(
    ("csv", "words"),
    [
        ("", "row 1"),
        ("a,b\n1,2\n3\n" + "1,2\n" * 30, "row 3"),
        ("a,b\n1,2\n3,oops\n" + "1,2\n" * 30, "row 3, column 'b'"),
        ("d,x\n2024-01-01,1\n2024-01-02,2\n2024-01-04,3\n", "row 4, column 'd': irregular"),
    ],
)
def test_bad_csv_gets_422_naming_row_and_column(client: httpx.Client, csv: str, words: str) -> None:
    before = {j["id"] for j in client.get("/v1/jobs").json()["jobs"]}
    for r in (
        client.post(f"{URL}?horizon=2", content=csv, headers={"Content-Type": "text/csv"}),
        client.post(URL, files={"series": ("bad.csv", csv.encode(), "text/csv")}, data={"horizon": "2"}),
    ):
        assert r.status_code == 422, r.text
        assert words in r.text and "series" in r.text
    assert {j["id"] for j in client.get("/v1/jobs").json()["jobs"]} == before


def test_csv_requests_validate_their_fields_like_json(client: httpx.Client) -> None:
    headers = {"Content-Type": "text/csv"}
    assert client.post(f"{URL}?horizon=0", content=monthly_csv(), headers=headers).status_code == 422
    r = client.post(f"{URL}?horizn=2", content=monthly_csv(), headers=headers)
    assert r.status_code == 422 and "horizn" in r.text
    r = client.post(URL, data={"horizon": "2"}, files={"other": ("x.csv", b"x\n1\n", "text/csv")})
    assert r.status_code == 422 and "series" in r.text
    assert client.post(URL, content="x\n1\n", headers={"Content-Type": "text/plain"}).status_code == 415


def test_a_144_point_monthly_series_gets_12_and_24_step_forecasts(client: httpx.Client) -> None:
    series = monthly(144)
    for horizon in (12, 24):
        body = {"series": [[v] for v in series], "horizon": horizon}
        result = finished(client, client.post(URL, json=body, headers=WAIT, timeout=90))
        forecast = np.array(result["forecast"])[:, 0]
        assert forecast.shape == (horizon,)
        truth = monthly(144 + horizon)[144:]
        assert np.mean(np.abs(forecast - truth) / truth) < 0.1  # the season and the trend are followed
        assert result["metrics"]["model"] == "auto" and result["metrics"]["weights"]
    short = {"series": [[v] for v in series[:47]], "horizon": 24}
    r = client.post(URL, json=short)
    assert r.status_code == 422 and "at least 48" in r.text
