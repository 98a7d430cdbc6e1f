"""Wave forecasts through the real service: generated waves, observed series, Prefer: wait, plots, validation."""

from __future__ import annotations

import math

import httpx
import numpy as np

from app.schemas import ORIGINAL_WAVES
from tests.stack import wait_for

ORIGINAL = [channel.model_dump() for channel in ORIGINAL_WAVES]


def truth(waves: list[dict], start: int, length: int) -> np.ndarray:
    """The waves computed independently from DESIGN.md's formula."""
    t = np.arange(start, start + length)[:, None]
    cols = []
    for w in waves:
        x = np.full(t.shape, float(w["offset"]))
        for term in w["terms"]:
            fn = np.sin if term["fn"] == "sin" else np.cos
            x = x + term["amplitude"] * fn(term["phase"] + 2 * math.pi * t / term["period"])
        cols.append(x)
    return np.concatenate(cols, axis=1)


def test_generated_waves_with_prefer_wait(client: httpx.Client) -> None:
    body = {"waves": ORIGINAL, "history": 600, "horizon": 10, "model": "harmonic"}
    r = client.post("/v1/wave-forecasts", json=body, headers={"Prefer": "wait=60"}, timeout=90)
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "succeeded" and job["kind"] == "wave_forecast"
    result = client.get(f"/v1/jobs/{job['id']}/result").json()
    assert result["start"] == 600 and result["horizon"] == 10 and result["channels"] == 2
    forecast = np.array(result["forecast"])
    assert forecast.shape == (10, 2)
    assert np.sqrt(np.mean((forecast - truth(ORIGINAL, 600, 10)) ** 2)) < 0.5
    assert np.allclose(result["actual"], truth(ORIGINAL, 600, 10), atol=1e-6)
    assert "forecast_rmse" in result["metrics"]
    lo, hi = np.array(result["intervals"]["95"]["lower"]), np.array(result["intervals"]["95"]["upper"])
    assert lo.shape == (10, 2) and np.all(lo <= hi)
    plot = client.get(f"/v1/jobs/{job['id']}/plot")
    assert plot.status_code == 200 and plot.content[:4] == b"\x89PNG"


def test_observed_series_without_wait_answers_202(client: httpx.Client) -> None:
    series = truth(ORIGINAL, 0, 400).tolist()
    r = client.post("/v1/wave-forecasts", json={"series": series, "horizon": 5, "model": "ar"})
    assert r.status_code == 202, r.text
    done = wait_for(client, r.json()["id"], {"succeeded", "failed"}, timeout=120)
    assert done["status"] == "succeeded", done["error"]
    result = client.get(f"/v1/jobs/{done['id']}/result").json()
    assert np.array(result["forecast"]).shape == (5, 2) and "actual" not in result


def test_bad_wave_requests_get_422_naming_the_field(client: httpx.Client) -> None:
    before = {j["id"] for j in client.get("/v1/jobs").json()["jobs"]}
    good = {"waves": ORIGINAL, "history": 600, "horizon": 10}
    bad_term = [{"offset": 0, "terms": [{"fn": "tan", "amplitude": 1, "period": 10, "phase": 0}]}]
    zero_period = [{"offset": 0, "terms": [{"fn": "sin", "amplitude": 1, "period": 0, "phase": 0}]}]
    cases = {
        "horizon": [{**good, "horizon": 0}, {**good, "horizon": 100_000}],
        "fn": [{**good, "waves": bad_term}],
        "period": [{**good, "waves": zero_period}],
        "series": [
            {"series": [[1.0, 2.0], [3.0]] * 100, "horizon": 5},
            {"series": [[1.0]] * 3, "horizon": 5},
            {"horizon": 5},
        ],
        "history": [{**good, "history": 10**7}],
    }
    for field, bodies in cases.items():
        for body in bodies:
            r = client.post("/v1/wave-forecasts", json=body)
            assert r.status_code == 422, (field, r.text)
            assert field in r.text or "waves" in r.text, (field, r.text)
    # JSON's NaN and Infinity (which Python's json accepts) must be refused too.
    for token in ("NaN", "Infinity"):
        raw = '{"series": [[1.0], [' + token + ']], "horizon": 1}'
        r = client.post("/v1/wave-forecasts", content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, r.text
    assert {j["id"] for j in client.get("/v1/jobs").json()["jobs"]} == before


def test_huge_series_is_refused_quickly(client: httpx.Client) -> None:
    rows = ",".join(["[1.5,2.5]"] * 2_000_000)
    r = client.post(
        "/v1/wave-forecasts",
        content='{"horizon": 5, "series": [' + rows + "]}",
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code in (413, 422), r.text
    assert client.get("/healthz").status_code == 200


def test_original_experiment_with_our_lstm_and_model_reuse(client: httpx.Client) -> None:
    body = {"waves": ORIGINAL, "history": 3000, "horizon": 23, "model": "lstm", "seed": 0}
    first = client.post("/v1/wave-forecasts", json=body, headers={"Prefer": "wait=60"}, timeout=90)
    assert first.status_code == 200, first.text
    job = first.json()
    result = client.get(f"/v1/jobs/{job['id']}/result").json()
    forecast = np.array(result["forecast"])
    assert forecast.shape == (23, 2)
    assert np.sqrt(np.mean((forecast - truth(ORIGINAL, 3000, 23)) ** 2)) <= 0.2
    assert job["metrics"]["model_cached"] is False
    again = client.post("/v1/wave-forecasts", json=body, headers={"Prefer": "wait=60"}, timeout=90).json()
    assert again["metrics"]["model_cached"] is True
    assert client.get(f"/v1/jobs/{again['id']}/result").json()["forecast"] == result["forecast"]


def test_metrics_count_jobs_and_workers(client: httpx.Client) -> None:
    text = client.get("/metrics").text
    assert 'stylewave_jobs_total{kind="wave_forecast",status="succeeded"}' in text
    assert "stylewave_queue_length" in text and "stylewave_job_duration_seconds_bucket" in text
    assert "stylewave_worker_heartbeat_age_seconds" in text
