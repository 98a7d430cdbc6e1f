"""`stylewave stylize` and `stylewave forecast`, run as a user runs them: locally and against the service."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer.main
from PIL import Image

from app.cli import cli
from app.cli.common import EXIT_BAD_INPUT, EXIT_REFUSED
from app.schemas import StyleTransferParams, WaveForecastRequest
from app.settings import Settings
from tests.conftest import make_content, make_style
from tests.stack import REPO, Stack

# The installed console script when there is one (as a user runs it), else the module.
_SCRIPT = Path(sys.executable).parent / "stylewave"
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "app.cli"]
CAPTURE: dict[str, Any] = {"capture_output": True, "text": True, "timeout": 240}


def stylewave(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture()
def images(tmp_path: Path) -> Path:
    make_content((128, 96)).save(tmp_path / "c.png")
    make_style((64, 64)).save(tmp_path / "s.png")
    return tmp_path


def _assert_clean_failure(r: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    error_lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, r.stderr
    for word in words:
        assert word in error_lines[0], r.stderr


def test_stylize_locally(images: Path) -> None:
    r = stylewave("stylize", "c.png", "s.png", "-o", "out.png", "--size", "96", "--iterations", "10", cwd=images)
    assert r.returncode == 0, r.stderr
    out = Image.open(images / "out.png")
    assert out.format == "PNG" and max(out.size) == 96 and out.size == (96, 72)
    assert "wrote out.png" in r.stderr


def test_stylize_on_the_server(images: Path, service: Stack) -> None:
    r = stylewave(
        "stylize",
        "c.png",
        "s.png",
        "-o",
        "served.png",
        "--size",
        "96",
        "--iterations",
        "10",
        "--server",
        service.url,
        cwd=images,
    )
    assert r.returncode == 0, r.stderr + service.logs()
    out = Image.open(images / "served.png")
    assert out.format == "PNG" and out.size == (96, 72)


def test_forecast_on_the_server(tmp_path: Path, service: Stack) -> None:
    r = stylewave(
        "forecast",
        "--model",
        "harmonic",
        "--history",
        "400",
        "--horizon",
        "10",
        "-o",
        "f.json",
        "--plot",
        "f.png",
        "--server",
        service.url,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr + service.logs()
    body = json.loads((tmp_path / "f.json").read_text())
    assert body["start"] == 400 and body["horizon"] == 10 and body["channels"] == 2  # the original waves
    assert len(body["forecast"]) == 10 and body["metrics"]["model"] == "harmonic"
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_forecast_of_a_csv_with_timestamps_locally(tmp_path: Path) -> None:
    rows = [f"2024-01-{d:02d},{10 + d % 7}" for d in range(1, 31)]
    (tmp_path / "daily.csv").write_text("day,visits\n" + "\n".join(rows) + "\n")
    r = stylewave("forecast", "--series", "daily.csv", "--horizon", "3", "--model", "persistence", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "2024-01-31: 12" in r.stdout and "2024-02-02: 12" in r.stdout  # the rows carry timestamps, not t=N


def test_forecast_help() -> None:
    r = stylewave("forecast", "--help", cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr
    for option in ("--waves", "--series", "--horizon", "--model", "--plot", "--server"):
        assert option in r.stdout


def test_bad_input_fails_cleanly(images: Path, service: Stack) -> None:
    _assert_clean_failure(stylewave("stylize", "c.png", "missing.png", "-o", "o.png", cwd=images), 2, "missing.png")
    _assert_clean_failure(stylewave("stylize", "c.png", "s.png", "-o", "o.png", "--size", "5", cwd=images), 2, "size")
    _assert_clean_failure(stylewave("forecast", "--horizon", "0", cwd=images), 2, "horizon")
    (images / "bad.csv").write_text("a,b\n1,2\n3,x\n")
    _assert_clean_failure(stylewave("forecast", "--series", "bad.csv", cwd=images), 2, "row 3", "column 'b'")
    # Refused by the server (the server's own limit), and a server that is not there.
    r = stylewave(
        "stylize", "c.png", "s.png", "-o", "o.png", "--iterations", "999999999", "--server", service.url, cwd=images
    )
    _assert_clean_failure(r, EXIT_REFUSED, "iterations")
    r = stylewave("forecast", "--server", "http://127.0.0.1:9", cwd=images, timeout=60)
    _assert_clean_failure(r, 1, "cannot reach")
    assert not (images / "o.png").exists()
    # A usage error (typer's own) is 2 as well; an output directory that does not exist is refused, not made.
    assert stylewave("stylize", "c.png", "s.png", "-o", "o.png", "--no-such-option", cwd=images).returncode == 2
    r = stylewave("stylize", "c.png", "s.png", "-o", "missing/dir/o.png", "--size", "32", cwd=images)
    _assert_clean_failure(r, 2, "--output", "missing/dir", "does not exist")
    _assert_clean_failure(stylewave("forecast", "--plot", "nowhere/p.png", cwd=images), 2, "--plot", "nowhere")
    assert not (images / "missing").exists() and not (images / "nowhere").exists()
    r = stylewave("stylize", "c.png", "s.png", "-o", "o.png", "--webhook", "https://example.com/h", cwd=images)
    _assert_clean_failure(r, 2, "webhook", "--server")


def _error(r: subprocess.CompletedProcess[str]) -> str:
    """The one `error:` line's message, without the HTTP status a refusal by the service starts with."""
    line = next(line for line in r.stderr.splitlines() if line.startswith("error:"))
    return re.sub(r"^\d{3} ", "", line.removeprefix("error:").strip())


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("--size", "99999", "size"),
        ("--size", str(Settings().max_size + 1), "size"),  # just over this deployment's default limit
        ("--iterations", "99999999", "iterations"),
    ],
)
def test_limits_are_the_apis_locally_too(images: Path, service: Stack, option: str, value: str, field: str) -> None:
    """A local run goes through the API's own check and limits: refused before any work, with its message."""
    args = ("stylize", "c.png", "s.png", "-o", "o.png", option, value)
    local = stylewave(*args, cwd=images)
    _assert_clean_failure(local, EXIT_BAD_INPUT, f"{field}:")
    served = stylewave(*args, "--server", service.url, cwd=images)
    _assert_clean_failure(served, EXIT_REFUSED, "422", f"{field}:")
    assert _error(local) == _error(served)
    assert not (images / "o.png").exists()


def test_local_limits_are_this_machines_settings(images: Path) -> None:
    env = os.environ | {"STYLEWAVE_MAX_SIZE": "64"}
    args = ["stylize", "c.png", "s.png", "-o", "o.png", "--size", "96", "--iterations", "2"]
    r = subprocess.run([*COMMAND, *args], cwd=images, env=env, **CAPTURE)
    _assert_clean_failure(r, EXIT_BAD_INPUT, "size 96 exceeds the maximum of 64")


def test_every_api_field_is_an_option() -> None:
    """The options are derived from the API's schemas: a field added there is an option here."""
    commands = {c.name: c for c in typer.main.get_command(cli).commands.values()}  # type: ignore[attr-defined]
    for command, schema, files in (
        ("stylize", StyleTransferParams, ()),
        ("forecast", WaveForecastRequest, ("waves", "series")),
    ):
        options = {name for p in commands[command].params for name in p.opts}
        for field in schema.model_fields:
            option = "--" + field.replace("_", "-")
            assert option in options, f"{command} has no {option} for the API field {field}"
        assert {f"--{f}" for f in files} <= options  # those two are files here
    stylize_options = {name for p in commands["stylize"].params for name in [*p.opts, *p.secondary_opts]}
    assert {
        "--layer-weights",
        "--precision",
        "--webhook",
        "--preserve-colors",
        "--no-preserve-colors",
    } <= stylize_options


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A service with API keys and no worker: its jobs stay queued until canceled."""
    stack = Stack(tmp_path_factory.mktemp("keyed"), env={"STYLEWAVE_API_KEYS": "key-a"}, workers=0).start()
    yield stack
    stack.stop()


def _background(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """Start `stylewave ARGS` and read the job id it prints as soon as it has submitted.

    The CLI gets SIGINT at its default, as a terminal's foreground command does: a suite started in the
    background (`make test &`, a CI script) passes SIGINT on ignored, and Python then never sees a Ctrl-C.
    """
    proc = subprocess.Popen(
        [*COMMAND, *args], cwd=cwd, env=env, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.match(r"job ([0-9a-f]{32}) submitted: (\S+)", line)
    assert match, f"no job id on the first line: {line!r}"
    return proc, match.group(1)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_server_from_the_environment_prints_the_job_id_and_exit_codes(images: Path, keyed: Stack) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STYLEWAVE_")}
    args = ["stylize", "c.png", "s.png", "-o", "o.png", "--size", "32"]
    # STYLEWAVE_SERVER alone: the service wants a key, so it refuses (401): exit 3, the refused-by-the-service code.
    r = subprocess.run([*COMMAND, *args], cwd=images, env=env | {"STYLEWAVE_SERVER": keyed.url}, **CAPTURE)
    _assert_clean_failure(r, EXIT_REFUSED, "401", "STYLEWAVE_API_KEY")
    # With STYLEWAVE_API_KEY: accepted; the job id comes at once, and a cancel from elsewhere ends the CLI with 1.
    env |= {"STYLEWAVE_SERVER": keyed.url, "STYLEWAVE_API_KEY": "key-a"}
    proc, job_id = _background(args, images, env)
    with httpx.Client(base_url=keyed.url, headers={"Authorization": "Bearer key-a"}, timeout=30) as c:
        assert c.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
        assert c.delete(f"/v1/jobs/{job_id}").status_code == 200
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1 and "canceled" in err, err
        # Ctrl-C while the job waits: the CLI cancels it and exits 130. It is waiting, and Ctrl-C cancels,
        # from the moment it prints the job id.
        proc, job_id = _background(args, images, env)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and f"job {job_id} canceled" in err, err
        assert c.get(f"/v1/jobs/{job_id}").json()["status"] == "canceled"
    # An empty STYLEWAVE_SERVER means a local run.
    local = env | {"STYLEWAVE_SERVER": ""}
    r = subprocess.run([*COMMAND, *args, "--iterations", "2"], cwd=images, env=local, **CAPTURE)
    assert r.returncode == 0 and "submitted" not in r.stderr, r.stderr
