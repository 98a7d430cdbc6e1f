"""docker-compose.yml and the Dockerfile: the config validates, and the services' own commands really run.

There is no Docker engine here, so the second test takes the `api` and `worker` services' commands and
environment from docker-compose.yml and runs them as local processes against a private redis-server.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.embedded import free_port, shutdown, start_redis
from tests.stack import REPO, poll_ok

COMPOSE = REPO / "docker-compose.yml"
GPU_OVERRIDE = REPO / "docker-compose.gpu.yml"
BIN = Path(sys.executable).parent


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())  # type: ignore[no-any-return]


def interpolate(value: str, env: Mapping[str, str] = os.environ) -> str:
    """Compose's `${VAR:-default}` / `${VAR}` substitution, enough for this file."""
    return re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: env.get(m.group(1)) or m.group(2) or "", value)


def default(value: str) -> str:
    """What the file says when no variable is set."""
    return interpolate(value, {})


def test_compose_config_validates() -> None:
    exe = shutil.which("docker-compose")
    if exe is None:
        if os.environ.get("STYLEWAVE_REQUIRE_COMPOSE") == "1":
            pytest.fail("STYLEWAVE_REQUIRE_COMPOSE=1 but docker-compose is not installed")
        pytest.skip("docker-compose not found (Debian package docker-compose; `make test` installs it as root)")
    for files in (["-f", "docker-compose.yml"], ["-f", "docker-compose.yml", "-f", "docker-compose.gpu.yml"]):
        r = subprocess.run([exe, *files, "config", "-q"], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (files, r.stderr)
    r = subprocess.run(
        [exe, "-f", "docker-compose.yml", "--profile", "gpu", "--profile", "monitoring", "config", "--services"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.split()) == {"redis", "api", "worker", "webhooks", "worker-gpu", "flower"}


def test_compose_file_contents() -> None:
    services = load(COMPOSE)["services"]
    assert {"redis", "api", "worker"} <= set(services)
    redis = services["redis"]
    assert default(redis["image"]) == "redis:7-alpine"  # the official image unless REDIS_IMAGE names another
    assert "--appendonly yes" in " ".join(redis["command"])
    assert "ports" not in redis  # never published to the host
    assert any(v.endswith(":/data") for v in redis["volumes"])
    for name in ("redis", "api", "worker"):
        assert services[name]["healthcheck"]["test"], name
    api, worker = services["api"], services["worker"]
    assert "/healthz" in " ".join(api["healthcheck"]["test"])
    # Published on loopback only unless STYLEWAVE_PUBLISH says otherwise: the API is open without keys.
    assert [default(str(p)) for p in api["ports"]] == ["127.0.0.1:8000:8000"]
    assert default(api["build"]["args"]["PYTHON_IMAGE"]) == "python:3.11-slim"
    assert api["command"] == "stylewave api --host 0.0.0.0" and worker["command"] == "stylewave worker"
    assert services["webhooks"]["command"] == "stylewave webhooks"
    for svc in (api, worker):
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
        assert svc["environment"]["STYLEWAVE_REDIS_URL"] == "redis://redis:6379/0"
    assert worker["environment"]["STYLEWAVE_DEVICE"] == "cpu"
    assert "monitoring" in services["flower"]["profiles"]
    gpu = load(GPU_OVERRIDE)["services"]["worker"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]

    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", dockerfile, re.M)
    assert re.findall(r"^FROM (\S+)", dockerfile, re.M) == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK ", dockerfile, re.M)
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


def _service_process(name: str, env: dict[str, str], log_dir: Path) -> subprocess.Popen[bytes]:
    """Start a compose service's own `command` with its own `environment`, as a local process."""
    service = load(COMPOSE)["services"][name]
    argv = shlex.split(service["command"])
    assert argv[0] == "stylewave"
    argv[0] = str(BIN / "stylewave") if (BIN / "stylewave").exists() else sys.executable
    if argv[0] == sys.executable:
        argv[1:1] = ["-m", "app.cli"]
    log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(argv, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture()
def compose_stack(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """redis-server + the compose `worker` and `api` commands; yields the API URL and the worker's env."""
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        redis_proc, redis_url = start_redis(tmp_path)
        procs.append(("redis", redis_proc))
        port = free_port()
        services = load(COMPOSE)["services"]
        # Only what cannot hold outside Docker is replaced: the Redis host name, the published port, the
        # data volume. Everything else (device, keys, ...) is the compose file's own environment.
        local = {"STYLEWAVE_REDIS_URL": redis_url, "STYLEWAVE_PORT": str(port), "STYLEWAVE_DATA_DIR": str(tmp_path)}
        envs = {}
        for name in ("worker", "api"):
            declared = {k: interpolate(str(v)) for k, v in services[name]["environment"].items()}
            envs[name] = {**os.environ, **declared, **local, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
            procs.append((name, _service_process(name, envs[name], tmp_path)))
        url = f"http://127.0.0.1:{port}"
        if not poll_ok(url + "/readyz", 120):
            logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in tmp_path.glob("*.log"))
            pytest.fail(f"the compose commands did not become ready\n{logs}")
        yield url, envs["worker"]
    finally:
        shutdown(procs, grace=10)


def test_compose_commands_run_a_job(compose_stack: tuple[str, dict[str, str]]) -> None:
    url, worker_env = compose_stack
    with httpx.Client(base_url=url, timeout=90) as client:
        assert client.get("/healthz").json() == {"status": "ok"}  # the api service's healthcheck target
        r = client.post(
            "/v1/wave-forecasts",
            headers={"Prefer": "wait=60"},
            json={
                "waves": [{"offset": 1, "terms": [{"fn": "sin", "amplitude": 2, "period": 40}]}],
                "history": 300,
                "horizon": 8,
                "model": "harmonic",
            },
        )
        assert r.status_code == 200, r.text
        job = r.json()
        assert job["status"] == "succeeded", job
        result = client.get(f"/v1/jobs/{job['id']}/result").json()
        assert result["start"] == 300 and len(result["forecast"]) == 8

    # The worker service's own healthcheck command, run as the container would (HOSTNAME = its host name).
    test = load(COMPOSE)["services"]["worker"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    command = test[1].replace("$$", "$")
    env = dict(worker_env, HOSTNAME=socket.gethostname())
    r = subprocess.run(["sh", "-c", command], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (command, r.stdout, r.stderr)
