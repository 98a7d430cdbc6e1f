"""Another local user gets nothing from the embedded Redis that `stylewave serve` starts.

No TCP port, a Unix socket in a 0700 directory, private files, and the commands that reconfigure the server
(CONFIG, MODULE, DEBUG, ...) denied even to the service's own connections. As root, the attack is replayed as
user `nobody` (setpriv): it must not connect, read or write anything of it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
import redis

from app.embedded import shutdown, start_redis

# Run as `nobody`: try each way in and print what happened; every entry must be "denied".
PROBE = r"""
import json, os, socket, sys
sock_path, redis_dir = sys.argv[1], sys.argv[2]
out = {}
def attempt(name, fn):
    try:
        fn()
        out[name] = "allowed"
    except PermissionError:
        out[name] = "denied"
    except OSError as exc:
        out[name] = f"error: {exc}"
def connect():
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    s.sendall(b"*1\r\n$4\r\nPING\r\n")
    s.recv(100)
attempt("connect to the socket", connect)
attempt("list the Redis directory", lambda: os.listdir(redis_dir))
for name in ("redis.conf", "redis.log", "appendonly.aof"):
    attempt(f"read {name}", lambda: open(os.path.join(redis_dir, name), "rb").read())
attempt("write into the Redis directory", lambda: open(os.path.join(redis_dir, "planted"), "wb").write(b"x"))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def embedded() -> Iterator[tuple[psutil.Process, str, Path]]:
    """An embedded Redis under a world-readable parent, so that only its own modes protect it."""
    base = Path(tempfile.mkdtemp(prefix="stylewave-local-user-"))
    base.chmod(0o755)
    proc, url = start_redis(base / "data")
    client = redis.Redis.from_url(url)
    client.set("sw:job:secret", b"another tenant's record")
    client.execute_command("BGREWRITEAOF")  # so that the data is on disk in the append-only file
    try:
        yield psutil.Process(proc.pid), url, base / "data" / "redis"
    finally:
        shutdown([("redis", proc)])
        shutil.rmtree(base, ignore_errors=True)


def test_no_tcp_port_only_a_private_socket(embedded: tuple[psutil.Process, str, Path]) -> None:
    proc, url, redis_dir = embedded
    assert url.startswith("unix://")
    assert [c for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN] == []
    sock = Path(urlsplit(url).path)
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700


def test_files_are_private(embedded: tuple[psutil.Process, str, Path]) -> None:
    _, _, redis_dir = embedded
    assert stat.S_IMODE(redis_dir.stat().st_mode) == 0o700
    paths = list(redis_dir.rglob("*"))
    assert any("appendonly" in p.name for p in paths), paths
    for path in paths:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


@pytest.mark.parametrize(
    "command",
    [
        ("CONFIG", "GET", "dir"),
        ("CONFIG", "SET", "dir", "/tmp"),
        ("MODULE", "LIST"),
        ("DEBUG", "SLEEP", "0"),
        ("ACL", "LIST"),
        ("REPLICAOF", "NO", "ONE"),
        ("MONITOR",),
    ],
)
def test_reconfiguring_commands_are_denied(embedded: tuple[psutil.Process, str, Path], command: tuple) -> None:
    _, url, _ = embedded
    with pytest.raises(redis.ResponseError, match="(?i)permission|no permissions|unknown command"):
        redis.Redis.from_url(url).execute_command(*command)


def _python_for_nobody() -> str | None:
    """An interpreter that user nobody may run (a venv under /root is out of its reach)."""
    for candidate in ("/usr/bin/python3", shutil.which("python3")):
        if candidate and subprocess.run(_as_nobody([candidate, "-c", "pass"]), capture_output=True).returncode == 0:
            return candidate
    return None


def _as_nobody(argv: list[str]) -> list[str]:
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to user nobody needs root (setpriv)")
def test_user_nobody_cannot_connect_read_or_write(embedded: tuple[psutil.Process, str, Path]) -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    python = _python_for_nobody()
    if python is None:
        pytest.skip("no Python interpreter that user nobody may run")
    _, url, redis_dir = embedded
    r = subprocess.run(
        _as_nobody([python, "-c", PROBE, urlsplit(url).path, str(redis_dir)]),
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout)
    assert results and all(v == "denied" for v in results.values()), results
    assert redis.Redis.from_url(url).get("sw:job:secret") == b"another tenant's record"
