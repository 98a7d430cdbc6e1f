"""`stylewave stylize` and `stylewave forecast`, run as a user runs them: locally and against the service."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import make_content, make_style
from tests.stack import REPO, Stack

# The installed console script when there is one (as a user runs it), else the module.
_SCRIPT = Path(sys.executable).parent / "stylewave"
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "app.cli"]


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
    _assert_clean_failure(r, 2, "iterations")
    r = stylewave("forecast", "--server", "http://127.0.0.1:9", cwd=images, timeout=60)
    _assert_clean_failure(r, 1, "cannot reach")
    assert not (images / "o.png").exists()
