"""`make deploy-test`: build the image, run the docker-compose stack as an operator would, then break it.

Steps, each timed:
  1. a Docker engine: Debian's docker.io and docker-compose are installed when missing, dockerd started;
  2. the base images from Debian packages (deploy/airgap-base.sh), unless PYTHON_IMAGE and REDIS_IMAGE name
     bases that exist already; the wheelhouse (deploy/wheelhouse.sh); the project image;
  3. `up`, /readyz; a style job and a forecast job, results checked;
  4. three workers: jobs spread over all three hosts;
  5. `docker kill` of the worker container running a long job: the job runs again elsewhere and succeeds with
     attempts 2, requeued within the reaper's bound;
  6. a Redis restart while jobs are queued: every job succeeds, each run once;
  7. `down` then `up`: finished results and queued jobs survive;
  8. every job ended `succeeded` exactly once: the worker logs hold one "job succeeded" line per job.
The stack is always taken down with its volumes (`down -v`), and the run checks that no container, network or
volume of it is left. A dockerd started here is stopped again unless DEPLOY_TEST_KEEP_ENGINE=1.

Any failure exits 1, a dockerd that does not start included (its log's tail is printed). The one exception is a
machine where no Docker engine can run at all (not Linux; not root and no engine answering; no way to create
the namespaces a container needs, as inside an unprivileged container): the run then prints why and exits 0,
SKIPPED, unless STYLEWAVE_REQUIRE_DOCKER=1 makes that a failure too.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
# Bound on the time from a worker's loss to its job's requeue (README, "Deployment"): the goal of 60 s.
REQUEUE_BOUND_SECONDS = 60.0
IMAGE = "stylewave:deploy-test"
# The image build copies torch's CUDA build (about 6 GB) twice; on a slow disk that is the long step.
BUILD_TIMEOUT_SECONDS = 2700.0
WAVES = [
    {
        "offset": 5,
        "terms": [
            {"fn": "sin", "amplitude": 5, "period": 300, "phase": 0.2},
            {"fn": "cos", "amplitude": 10, "period": 200, "phase": 0.7},
        ],
    },
    {
        "offset": 7,
        "terms": [
            {"fn": "sin", "amplitude": 7, "period": 200, "phase": 0.7},
            {"fn": "cos", "amplitude": 14, "period": 300, "phase": 0.2},
        ],
    },
]

timings: list[tuple[str, float]] = []
figures: dict[str, Any] = {}


def log(message: str) -> None:
    print(f"[deploy-test {time.strftime('%H:%M:%S')}] {message}", flush=True)


@contextmanager
def step(name: str) -> Iterator[None]:
    log(f"--- {name}")
    start = time.monotonic()
    yield
    timings.append((name, time.monotonic() - start))
    log(f"--- {name}: {timings[-1][1]:.0f} s")


def run(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    capture: bool = False,
    check: bool = True,
    timeout: float = 1800,
) -> subprocess.CompletedProcess[str]:
    """Run a command from the repository root; its output goes to ours unless captured."""
    out = subprocess.PIPE if capture else None
    r = subprocess.run(cmd, cwd=REPO, env=env, stdout=out, stderr=out, text=True, timeout=timeout)
    if check and r.returncode != 0:
        detail = f"\n{r.stdout}\n{r.stderr}" if capture else ""
        raise RuntimeError(f"{' '.join(cmd)} exited with {r.returncode}{detail}")
    return r


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- the engine ------------------------------------------------------------------------------------------------


class Engine:
    """A Docker engine that answers; installed from Debian's packages and started here when missing."""

    def __init__(self) -> None:
        self.started: subprocess.Popen[bytes] | None = None

    @staticmethod
    def answers() -> bool:
        return shutil.which("docker") is not None and run(["docker", "info"], capture=True, check=False).returncode == 0

    @staticmethod
    def impossible() -> str | None:
        """Why no Docker engine can run on this machine at all, or None when one can (or already answers)."""
        if Engine.answers():
            return None
        if not sys.platform.startswith("linux"):
            return f"dockerd runs on Linux only, and no Docker engine answers here ({sys.platform})"
        if os.geteuid() != 0:
            return "no Docker engine answers, and only root may install and start one"
        if shutil.which("dockerd") is None and shutil.which("apt-get") is None:
            return "no Docker engine is installed, and there is no apt-get to install Debian's docker.io"
        if not Path("/sys/fs/cgroup").is_dir():
            return "no cgroup file system at /sys/fs/cgroup, which containers need"
        unshare = shutil.which("unshare")
        if unshare is not None:
            probe = [unshare, "--mount", "--uts", "--ipc", "--net", "--pid", "--fork", "true"]
            r = run(probe, capture=True, check=False)
            if r.returncode != 0:
                why = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no message"]
                return f"this machine cannot create the namespaces a container needs ({why[0]})"
        return None

    def ensure(self) -> None:
        missing = [
            p
            for p, exe in (("docker.io", "dockerd"), ("docker-compose", "docker-compose"))
            if shutil.which(exe) is None
        ]
        if missing and not (missing == ["docker-compose"] and _compose_v2()):
            if os.geteuid() != 0 or shutil.which("apt-get") is None:
                raise RuntimeError(f"missing {' '.join(missing)}; install them (Debian: apt-get install ...)")
            log(f"installing {' '.join(missing)}")
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            retries = ["-o", "Acquire::Retries=5"]  # a mirror hiccup is retried, not a failed CI run
            run(["apt-get", *retries, "update", "-qq"], env=env)
            run(["apt-get", *retries, "install", "-y", "-qq", *missing], env=env, capture=True)
        if self.answers():
            return
        log_path = Path(os.environ.get("TMPDIR", "/tmp")) / "stylewave-dockerd.log"
        log(f"starting dockerd (log: {log_path})")
        with open(log_path, "ab") as out:
            self.started = subprocess.Popen(
                ["dockerd"], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + 90
        while not self.answers():
            if self.started.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
                raise RuntimeError(f"dockerd did not start (its log, {log_path}, ends with:)\n{tail}")
            time.sleep(1)

    def stop(self) -> None:
        if self.started is None or os.environ.get("DEPLOY_TEST_KEEP_ENGINE") == "1":
            return
        log("stopping the dockerd started here")
        self.started.terminate()
        try:
            self.started.wait(60)
        except subprocess.TimeoutExpired:
            self.started.kill()
            self.started.wait()


def _compose_v2() -> bool:
    return (
        shutil.which("docker") is not None
        and run(["docker", "compose", "version"], capture=True, check=False).returncode == 0
    )


# ---- the stack ---------------------------------------------------------------------------------------------------


# Three worker containers share this machine's cores: one math thread each, or they fight over them.
OVERRIDE = """\
services:
  worker:
    environment:
      OMP_NUM_THREADS: "1"
"""


class Stack:
    """One docker-compose project of this repository's docker-compose.yml, under a name of its own."""

    def __init__(self, python_image: str, redis_image: str, workdir: Path) -> None:
        self.project = f"swdeploytest{os.getpid()}"
        self.override = workdir / "docker-compose.override.yml"
        self.override.write_text(OVERRIDE)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cmd = ["docker", "compose"] if _compose_v2() else ["docker-compose"]
        self.env = dict(
            os.environ,
            PYTHON_IMAGE=python_image,
            REDIS_IMAGE=redis_image,
            STYLEWAVE_IMAGE=IMAGE,
            STYLEWAVE_PUBLISH=f"127.0.0.1:{self.port}",
            STYLEWAVE_API_KEYS="",
        )
        self.logs: dict[str, str] = {}  # container id -> its worker log, kept past the container's removal

    def compose(
        self, *args: str, capture: bool = False, check: bool = True, timeout: float = 1800
    ) -> subprocess.CompletedProcess[str]:
        files = ["-f", "docker-compose.yml", "-f", str(self.override)]
        return run(
            [*self.cmd, "-p", self.project, *files, *args], env=self.env, capture=capture, check=check, timeout=timeout
        )

    def up(self, workers: int) -> None:
        self.save_worker_logs()  # scaling down removes worker containers, and their logs with them
        self.compose("up", "-d", "--no-build", "--scale", f"worker={workers}")

    def containers(self, service: str) -> dict[str, str]:
        """Host name -> container id of a service's running containers."""
        ids = self.compose("ps", "-q", service, capture=True).stdout.split()
        out = {}
        for cid in ids:
            info = json.loads(run(["docker", "inspect", cid], capture=True).stdout)[0]
            if info["State"]["Running"]:
                out[info["Config"]["Hostname"]] = cid
        return out

    def save_worker_logs(self) -> None:
        """Keep the logs of every worker container (also stopped ones) before `down` or a scale-down removes
        them; a container's log only grows, so the latest copy replaces the one kept before."""
        ids = self.compose("ps", "-a", "-q", "worker", capture=True, check=False).stdout.split()
        for cid in ids:
            r = run(["docker", "logs", cid], capture=True, check=False)
            self.logs[cid] = r.stdout + r.stderr

    def down(self, volumes: bool) -> None:
        self.save_worker_logs()
        self.compose("down", "--remove-orphans", "-t", "30", *(["-v"] if volumes else []))

    def leftovers(self) -> list[str]:
        label = f"label=com.docker.compose.project={self.project}"
        found = []
        for kind in (["ps", "-a"], ["network", "ls"], ["volume", "ls"]):
            r = run(["docker", *kind, "-q", "--filter", label], capture=True, check=False)
            found += [f"{kind[0]} {x}" for x in r.stdout.split()]
        return found


# ---- the API -----------------------------------------------------------------------------------------------------


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def content_image() -> bytes:
    img = Image.new("RGB", (96, 72), (150, 190, 230))
    img.paste((60, 140, 60), (0, 48, 96, 72))
    img.paste((40, 30, 30), (28, 18, 56, 46))
    return png(img)


def style_image() -> bytes:
    img = Image.new("RGB", (48, 48), (240, 210, 40))
    for x in range(0, 48, 6):
        img.paste((30, 60, 200), (x, 0, x + 3, 48))
    return png(img)


class Api:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)
        self.content, self.style = content_image(), style_image()
        self.submitted: list[str] = []

    def style_job(self, **fields: Any) -> str:
        files = [("content", ("c.png", self.content)), ("style", ("s.png", self.style))]
        data = {"scales": "1", **{k: str(v) for k, v in fields.items()}}
        r = self.http.post("/v1/style-transfers", files=files, data=data)
        assert r.status_code == 202, r.text
        self.submitted.append(r.json()["id"])
        return str(r.json()["id"])

    def forecast_job(self, **fields: Any) -> str:
        r = self.http.post("/v1/wave-forecasts", json={"waves": WAVES, **fields})
        assert r.status_code == 202, r.text
        self.submitted.append(r.json()["id"])
        return str(r.json()["id"])

    def job(self, job_id: str) -> dict[str, Any]:
        r = self.http.get(f"/v1/jobs/{job_id}")
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def wait(self, job_id: str, statuses: set[str], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:  # through a Redis restart the API answers 503 for a moment
                r = self.http.get(f"/v1/jobs/{job_id}")
                job = r.json() if r.status_code == 200 else {"answer": r.status_code}
            except (httpx.HTTPError, ValueError):
                job = {}
            if job.get("status") in statuses:
                return job
            time.sleep(0.25)
        raise AssertionError(f"job {job_id} not {statuses} within {timeout:.0f} s: {job}")

    def succeeded(self, job_id: str, timeout: float = 300) -> dict[str, Any]:
        job = self.wait(job_id, {"succeeded", "failed", "canceled"}, timeout)
        assert job["status"] == "succeeded", job
        return job

    def ready(self, workers: int, timeout: float = 240) -> dict[str, Any]:
        """Wait for /readyz to answer ready with at least `workers` live workers."""
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                r = self.http.get("/readyz")
                body = r.json()
                if r.status_code == 200 and body.get("workers", 0) >= workers:
                    return body
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(1)
        raise AssertionError(f"/readyz not ready with {workers} workers within {timeout:.0f} s: {body}")


# ---- the checks --------------------------------------------------------------------------------------------------


def check_jobs(api: Api) -> None:
    style = api.style_job(size=96, iterations=40)
    forecast = api.forecast_job(history=600, horizon=12, model="lstm")
    api.succeeded(style)
    image = Image.open(io.BytesIO(api.http.get(f"/v1/jobs/{style}/result").content))
    assert image.format == "PNG" and max(image.size) == 96, image
    api.succeeded(forecast)
    result = api.http.get(f"/v1/jobs/{forecast}/result").json()
    assert result["start"] == 600 and result["channels"] == 2 and len(result["forecast"]) == 12, result
    assert len(result["actual"]) == 12 and "forecast_rmse" in result["metrics"], result["metrics"]
    assert api.http.get(f"/v1/jobs/{forecast}/plot").headers["content-type"] == "image/png"


def check_spread(stack: Stack, api: Api) -> None:
    stack.up(workers=3)
    api.ready(workers=3)
    hosts = set(stack.containers("worker"))
    assert len(hosts) == 3, hosts
    ids = [api.style_job(size=64, iterations=60) for _ in range(6)]
    ran_on = Counter(api.succeeded(i)["worker"]["host"] for i in ids)
    figures["jobs per worker host"] = dict(ran_on)
    assert set(ran_on) == hosts, f"6 jobs ran on {dict(ran_on)}, workers are {sorted(hosts)}"


def check_container_kill(stack: Stack, api: Api) -> None:
    containers = stack.containers("worker")  # before the job: `compose ps` is slow, the kill must not wait on it
    job_id = api.style_job(size=64, iterations=1500)
    deadline = time.monotonic() + 120
    while True:
        job = api.job(job_id)
        if job["status"] == "running" and job.get("worker") and job["progress"] > 0:
            break
        assert time.monotonic() < deadline, f"the long job never ran: {job}"
        time.sleep(0.2)
    host = job["worker"]["host"]
    run(["docker", "kill", containers[host]], capture=True)
    killed_at = time.time()
    at_kill = api.job(job_id)
    log(f"killed worker container {host} at progress {at_kill['progress']:.2f}")
    assert at_kill["status"] == "running" and at_kill["progress"] < 0.9, f"the job was (nearly) done: {at_kill}"
    healthy = api.http.get("/healthz").status_code == 200
    done = api.succeeded(job_id, timeout=REQUEUE_BOUND_SECONDS + 600)
    requeue = done["started_at"] - killed_at
    run_time = done["finished_at"] - done["started_at"]
    figures["kill: requeued and restarted after (s)"] = round(requeue, 1)
    figures["kill: second run (s)"] = round(run_time, 1)
    figures["kill: second run on"] = done["worker"]["host"] + (
        " (the killed host)" if done["worker"]["host"] == host else " (another host)"
    )
    assert healthy, "the API stopped answering /healthz when a worker container was killed"
    assert done["attempts"] == 2, done
    assert requeue <= REQUEUE_BOUND_SECONDS, f"requeued {requeue:.1f} s after the kill (bound {REQUEUE_BOUND_SECONDS})"
    stack.up(workers=3)  # replace the killed container, if Docker did not restart it


def check_redis_restart(stack: Stack, api: Api) -> None:
    api.ready(workers=3)
    ids = [api.style_job(size=64, iterations=100) for _ in range(9)]
    queued = sum(api.job(i)["status"] == "queued" for i in ids)
    figures["redis restart: jobs queued at the restart"] = queued
    assert queued >= 3, f"only {queued} of 9 jobs were still queued"
    stack.compose("restart", "redis")
    for job_id in ids:
        done = api.succeeded(job_id, timeout=600)
        assert done["attempts"] == 1, done


def check_down_up(stack: Stack, api: Api) -> None:
    finished = {i: hashlib.sha256(api.http.get(f"/v1/jobs/{i}/result").content).hexdigest() for i in api.submitted[:3]}
    stack.up(workers=0)  # so that the next jobs stay queued through the restart
    queued = [api.style_job(size=64, iterations=30), api.forecast_job(history=300, horizon=6, model="harmonic")]
    assert all(api.job(i)["status"] == "queued" for i in queued)
    stack.down(volumes=False)
    stack.up(workers=1)
    api.ready(workers=1)
    for job_id, digest in finished.items():
        assert hashlib.sha256(api.http.get(f"/v1/jobs/{job_id}/result").content).hexdigest() == digest, job_id
    for job_id in queued:
        assert api.succeeded(job_id)["attempts"] == 1


def check_each_ran_once(stack: Stack, api: Api) -> None:
    """Every job ended `succeeded`, and exactly one worker log line says it did."""
    stack.save_worker_logs()
    successes: Counter[str] = Counter()
    for text in stack.logs.values():
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("msg") == "job succeeded":
                successes[entry.get("job_id", "")] += 1
    for job_id in api.submitted:
        assert api.job(job_id)["status"] == "succeeded", api.job(job_id)
    twice = {j: n for j, n in successes.items() if n != 1}
    missing = [j for j in api.submitted if successes[j] == 0]
    figures["jobs, each succeeded once"] = len(api.submitted)
    assert not twice and not missing, f"ran to completion more than once: {twice}; no success logged: {missing}"


# ---- main --------------------------------------------------------------------------------------------------------


def images(engine: Engine) -> tuple[str, str]:
    """The base images: the given ones if they exist here, else built from Debian packages."""
    python_image = os.environ.get("PYTHON_IMAGE", "stylewave-base/python:3.11-slim")
    redis_image = os.environ.get("REDIS_IMAGE", "stylewave-base/redis:7")
    have = all(
        run(["docker", "image", "inspect", i], capture=True, check=False).returncode == 0
        for i in (python_image, redis_image)
    )
    if not have:
        run(["deploy/airgap-base.sh", "--python-tag", python_image, "--redis-tag", redis_image])
    return python_image, redis_image


def dangling_images() -> set[str]:
    r = run(["docker", "images", "-q", "--no-trunc", "--filter", "dangling=true"], capture=True, check=False)
    return set(r.stdout.split())


def remove_built_images(dangling_before: set[str]) -> None:
    """Remove the project image and the build stage's leftovers (about 15 GB together); the base images
    stay, so that the next run skips debootstrap. DEPLOY_TEST_KEEP_IMAGE=1 keeps them all (a faster rebuild)."""
    if os.environ.get("DEPLOY_TEST_KEEP_IMAGE") == "1":
        return
    leftovers = sorted(dangling_images() - dangling_before)
    run(["docker", "rmi", "-f", IMAGE, *leftovers], capture=True, check=False)


def _terminated(signum: int, _frame: object) -> None:
    """SIGTERM or SIGHUP (a CI timeout, a closed terminal): unwind, so that `finally` still takes the stack down."""
    raise SystemExit(f"deploy-test stopped by signal {signum}")


def main() -> int:
    started = time.monotonic()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminated)
    engine = Engine()
    why = engine.impossible()
    if why is not None:
        required = os.environ.get("STYLEWAVE_REQUIRE_DOCKER") == "1"
        print(f"deploy-test {'FAILED' if required else 'SKIPPED'}: no Docker engine can run here: {why}", flush=True)
        return 1 if required else 0
    stack: Stack | None = None
    workdir: Path | None = None
    dangling_before: set[str] | None = None
    ok = False
    try:
        with step("Docker engine"):
            engine.ensure()
        dangling_before = dangling_images()
        with step("base images"):
            python_image, redis_image = images(engine)
        with step("wheelhouse"):
            run(["deploy/wheelhouse.sh", sys.executable, python_image])
        workdir = Path(tempfile.mkdtemp(prefix="deploy-test."))
        stack = Stack(python_image, redis_image, workdir)
        with step("image build"):
            stack.compose("build", "--force-rm", "api", timeout=BUILD_TIMEOUT_SECONDS)
            size = json.loads(run(["docker", "image", "inspect", IMAGE], capture=True).stdout)[0]
            figures["image size (GB)"] = round(size["Size"] / 1e9, 2)
        api = Api(stack.url)
        with step("up and /readyz"):
            stack.up(workers=1)
            api.ready(workers=1)
        with step("a style job and a forecast job"):
            check_jobs(api)
        with step("three workers share the jobs"):
            check_spread(stack, api)
        with step("docker kill of the container running a job"):
            check_container_kill(stack, api)
        with step("Redis restart with jobs queued"):
            check_redis_restart(stack, api)
        with step("down and up"):
            check_down_up(stack, api)
        with step("each job ran to completion once"):
            check_each_ran_once(stack, api)
        ok = True
    finally:
        if stack is not None:
            if not ok:
                stack.compose("logs", "--tail", "60", check=False)
            with step("down -v"):
                stack.down(volumes=True)
            left = stack.leftovers()
            if left:
                ok = False
                log(f"left behind: {left}")
        if dangling_before is not None:
            remove_built_images(dangling_before)
        engine.stop()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        for name, seconds in timings:
            print(f"  {seconds:7.1f} s  {name}")
        for name, value in figures.items():
            print(f"  {name}: {value}")
        print(f"deploy-test {'passed' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
