"""The runner's sorting of the ways out of a job, against a real Redis and the real JobStore."""

from __future__ import annotations

import io
import re
import subprocess
import time

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from PIL import Image

from app.schemas import Job, JobKind, JobStatus, WorkerInfo
from app.settings import Settings
from app.store import JobStore
from app.validation import validate_style_request
from models.progress import Tracker
from workers.runner import JobRun, eta_seconds, job_run

WORKER = WorkerInfo(host="test-host", pid=4242)


def _png(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size).save(buf, format="PNG")
    return buf.getvalue()


PNG_16 = _png((16, 16))


def settings(**overrides: object) -> Settings:
    return Settings(**{"job_time_limit_seconds": 60, "max_attempts": 3, **overrides})  # type: ignore[arg-type]


def dead_pid() -> int:
    """The pid of a process that has exited (a pool process killed mid-job)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def new_job(store: JobStore) -> str:
    return store.create(JobKind.wave_forecast, {"horizon": 5}, owner="tests").id


def finished(store: JobStore, job_id: str) -> Job:
    job = store.get(job_id)
    assert job is not None and job.status.is_terminal, job
    return job


def test_a_job_that_returns_succeeds_with_its_outputs_and_progress(store: JobStore) -> None:
    job_id = new_job(store)
    with job_run(store, settings(), job_id, WORKER) as run:
        assert isinstance(run, JobRun)
        run.progress(0.5, "halfway", {"losses": {"total": 1.5}}, force=True)
        middle = store.get(job_id)
        assert middle is not None and (middle.status, middle.progress, middle.message) == ("running", 0.5, "halfway")
        assert middle.attempts == 1 and middle.worker == WORKER
        run.preview(b"\x89PNG preview")
        run.succeed({"rmse": 0.1}, {"result": b"{}", "plot": b"\x89PNG plot"})
    job = finished(store, job_id)
    assert job.status is JobStatus.succeeded and job.error is None and job.progress == 1.0
    assert job.metrics == {"losses": {"total": 1.5}, "rmse": 0.1}
    assert store.r.get(f"sw:job:{job_id}:preview") == b"\x89PNG preview"
    assert store.r.get(f"sw:job:{job_id}:plot") == b"\x89PNG plot"


def test_the_time_left_is_the_pace_so_far_applied_to_the_work_left(store: JobStore) -> None:
    assert eta_seconds(30.0, 0.25) == 90.0 and eta_seconds(10.0, 1.0) == 0.0
    assert eta_seconds(0.5, 0.5) is None and eta_seconds(30.0, 0.001) is None  # too early to tell
    job_id = new_job(store)
    with job_run(store, settings(), job_id, WORKER) as run:
        assert run is not None
        run.started -= 20.0  # as if it had run for 20 s
        run.progress(0.4, "step 4/10", force=True)
        job = store.get(job_id)
        assert job is not None and job.eta_seconds is not None and 29.0 <= job.eta_seconds <= 31.0
        run.succeed({}, {"result": b"{}"})
    assert finished(store, job_id).eta_seconds is None


@pytest.mark.parametrize("error", [ValueError("image too small"), FloatingPointError("loss is NaN")])
def test_bad_inputs_and_numerics_are_model_errors(store: JobStore, error: Exception) -> None:
    job_id = new_job(store)
    with job_run(store, settings(), job_id, WORKER):
        raise error
    job = finished(store, job_id)
    assert job.status is JobStatus.failed and job.error is not None
    assert (job.error.code, job.error.message) == ("model_error", str(error))


def test_anything_else_is_an_internal_error_with_an_id_and_the_details_only_in_the_log(
    store: JobStore, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = new_job(store)
    with job_run(store, settings(), job_id, WORKER):
        {}["secret-looking-detail"]  # noqa: B018 - a bug in the job's own code
    job = finished(store, job_id)
    assert job.error is not None and job.error.code == "internal_error"
    assert "secret-looking-detail" not in job.error.message and "KeyError" not in job.error.message
    error_id = re.search(r"err_[0-9a-f]{12}", job.error.message)
    assert error_id is not None, job.error.message
    logged = [r for r in caplog.records if error_id.group(0) in r.getMessage()]
    assert logged and logged[0].exc_info is not None and "secret-looking-detail" in str(logged[0].exc_info[1])


def test_a_refused_message_fails_the_job_with_invalid_params(store: JobStore) -> None:
    job_id = new_job(store)
    with job_run(store, settings(), job_id, WORKER):
        validate_style_request({"iterations": 20_000, "mode": "style"}, settings(), None, [PNG_16])
    job = finished(store, job_id)
    assert job.status is JobStatus.failed and job.error is not None
    assert job.error.code == "invalid_params" and "iterations" in job.error.message


def test_a_message_for_an_unknown_or_malformed_id_runs_nothing(store: JobStore) -> None:
    for job_id in ("0" * 32, "not-an-id", f"{new_job(store)}:result"):
        with job_run(store, settings(), job_id, WORKER) as run:
            assert run is None


def test_the_time_limit_stops_the_algorithm_and_fails_the_job(store: JobStore) -> None:
    job_id = new_job(store)
    with job_run(store, settings(job_time_limit_seconds=0), job_id, WORKER) as run:
        assert run is not None
        Tracker(10, should_stop=run.should_stop).check()  # what the algorithms call between iterations
        raise AssertionError("the tracker should have stopped the run")
    job = finished(store, job_id)
    assert job.error is not None and job.error.code == "time_limit" and "0 s" in job.error.message


def test_celerys_soft_time_limit_is_a_time_limit_too(store: JobStore) -> None:
    job_id = new_job(store)
    with job_run(store, settings(), job_id, WORKER):
        raise SoftTimeLimitExceeded()
    job = finished(store, job_id)
    assert job.error is not None and job.error.code == "time_limit"


def test_a_cancel_stops_the_algorithm_and_the_job_stays_canceled(store: JobStore) -> None:
    job_id = new_job(store)
    with job_run(store, settings(), job_id, WORKER) as run:
        assert run is not None
        tracker = Tracker(10, should_stop=run.should_stop)
        tracker.check()  # not canceled yet: goes on
        store.cancel(job_id)  # as DELETE /v1/jobs/{id} does
        time.sleep(JobRun.CANCEL_POLL_SECONDS)  # the run polls the flag at most this often
        tracker.check()
        raise AssertionError("the tracker should have stopped the run")
    job = finished(store, job_id)
    assert job.status is JobStatus.canceled and job.error is None


def test_a_result_that_arrives_after_a_cancel_is_dropped(store: JobStore) -> None:
    job_id = new_job(store)
    with job_run(store, settings(), job_id, WORKER) as run:
        assert run is not None
        store.cancel(job_id)
        run.succeed({}, {"result": b"late"})  # no error: the cancel stands
    assert finished(store, job_id).status is JobStatus.canceled


def test_a_job_that_keeps_killing_its_worker_fails_as_worker_lost(store: JobStore) -> None:
    job_id = new_job(store)
    for _ in range(3):  # three pool processes of this worker died mid-job: each start counted an attempt
        store.start(job_id, WorkerInfo(host=WORKER.host, pid=dead_pid()), is_dead=lambda w: True)
    with job_run(store, settings(max_attempts=3), job_id, WORKER) as run:
        assert run is None  # the fourth delivery must not run the job again
    job = finished(store, job_id)
    assert job.error is not None and job.error.code == "worker_lost" and "3 times" in job.error.message
    assert job.attempts == 4


def test_a_job_canceled_while_queued_is_not_run(store: JobStore) -> None:
    job_id = new_job(store)
    store.cancel(job_id)
    with job_run(store, settings(), job_id, WORKER) as run:
        assert run is None
    job = finished(store, job_id)
    assert job.status is JobStatus.canceled and job.attempts == 0
