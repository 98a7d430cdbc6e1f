"""The README's shell examples, run as written against a real `stylewave serve` (what `make run` starts).

The convention, also stated in a comment at the top of README.md:

- Every ```sh block is run, in the README's order, as one bash script (so a variable set in one block is
  there in the next), in a directory holding `content.jpg`, `style.jpg` and a `.venv` link to this venv, with
  no STYLEWAVE_* variable set and the venv not on PATH: as a new user's shell in the repository would be.
- ```console and ```text blocks are shown, never run: the two make commands, docker compose, GPUs, other
  machines, sample output. Any other shell tag (bash, shell, zsh) is refused here, so that no one writes a
  block believing it is tested when it is not.
- Before running, the test applies these substitutions, and only these (SUBSTITUTIONS below): the service's
  address `127.0.0.1:8000` becomes the test service's free port; every size (`size=N` in a form, `--size N`
  on the command line) becomes TINY_SIZE; and every iteration count under 1000 (`iterations=N`,
  `--iterations N`) becomes FEW_ITERATIONS, so that the whole README runs in a minute or two. Counts of
  1000 and more are kept: they stand for a job that must still be running a moment later (the cancel example).
  So a style job in a ```sh block should name its size and iterations.
- The script runs under `set -e`, with `curl` given `--fail-with-body`: any command that fails, and any HTTP
  error answer, fails the test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from app.embedded import free_port
from tests.conftest import make_content, make_style
from tests.stack import REPO, poll_ok

README = REPO / "README.md"
TINY_SIZE = 64
RUN, SHOWN = "sh", ("console", "text")
FEW_ITERATIONS = 8
SUBSTITUTIONS: list[tuple[str, str]] = [
    (r"127\.0\.0\.1:8000\b", "127.0.0.1:{port}"),
    (r"\bsize=\d+", f"size={TINY_SIZE}"),
    (r"--size[ =]\d+", f"--size {TINY_SIZE}"),
    (r"\biterations=\d{1,3}\b", f"iterations={FEW_ITERATIONS}"),
    (r"--iterations[ =]\d{1,3}\b", f"--iterations {FEW_ITERATIONS}"),
]
# curl refuses --fail-with-body beside -f, so the wrapper drops the README's own -f (it fails either way).
PRELUDE = """\
set -e
PS4='+ $(date +%T) '
set -x
curl() {
  { set +x; } 2>/dev/null
  local arg args=()
  for arg in "$@"; do
    case $arg in
      --fail) ;;
      --*) args+=("$arg") ;;
      -*f*) arg=${arg//f/}; [ "$arg" = - ] || args+=("$arg") ;;
      *) args+=("$arg") ;;
    esac
  done
  set -x
  command curl --fail-with-body "${args[@]}"
}
"""
_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def readme_blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced block of the README as (tag, body), in order."""
    return [(m.group(1), m.group(2)) for m in _FENCE.finditer(text)]


def readme_script(text: str, port: int) -> str:
    """The README's ```sh blocks as one bash script, with the substitutions applied."""
    script = "\n".join(body for tag, body in readme_blocks(text) if tag == RUN)
    for pattern, replacement in SUBSTITUTIONS:
        script = re.sub(pattern, replacement.format(port=port), script)
    return PRELUDE + script


def test_blocks_follow_the_convention() -> None:
    tags = {tag for tag, _ in readme_blocks(README.read_text())}
    ambiguous = tags & {"bash", "shell", "zsh", "shell-session"}
    assert not ambiguous, f"README: use ```sh (run by this test) or ```console (shown only), not {ambiguous}"
    assert RUN in tags


def test_substitutions() -> None:
    text = (
        "```sh\ncurl -F size=256 -F style_size=2 -F iterations=100 http://127.0.0.1:8000/x\n"
        "stylewave stylize --size 512 --iterations 300\ncurl -F iterations=5000\n```\n"
        "```console\ndocker compose up\n```\n"
    )
    script = readme_script(text, 4321)
    assert "size=64 -F style_size=2 -F iterations=8 http://127.0.0.1:4321/x" in script
    assert "--size 64 --iterations 8" in script and "iterations=5000" in script and "docker" not in script


def _shell_env(workdir: Path) -> dict[str, str]:
    """A new user's shell: no STYLEWAVE_* settings, and the venv not on PATH until the README activates it."""
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STYLEWAVE_") and k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    env["HOME"] = str(workdir)
    return env


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    """The user's directory: the two example images and `.venv` (a link to this venv)."""
    make_content((160, 120)).save(tmp_path / "content.jpg")
    make_style((96, 96)).save(tmp_path / "style.jpg")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    return tmp_path


@pytest.mark.timeout(420)
def test_readme_runs_as_written(workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    port = free_port()
    data = tmp_path_factory.mktemp("readme-data")
    env = _shell_env(workdir)
    log = open(data / "serve.log", "wb")  # noqa: SIM115 - closed below
    serve = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--data-dir", str(data)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        ready = poll_ok(f"http://127.0.0.1:{port}/readyz", 90, alive=lambda: serve.poll() is None)
        assert ready, "serve did not become ready:\n" + (data / "serve.log").read_text(errors="replace")[-3000:]
        script = workdir / "readme.sh"
        script.write_text(readme_script(README.read_text(), port))
        with open(workdir / "readme.log", "wb") as out:
            try:
                code = subprocess.run(
                    ["bash", str(script)], cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=300
                ).returncode
            except subprocess.TimeoutExpired:
                code = None
        output = (workdir / "readme.log").read_text(errors="replace")[-8000:]
        service_log = (data / "serve.log").read_text(errors="replace")[-4000:]
        failed = "timed out" if code is None else f"exited with {code}"
        assert code == 0, f"the README's blocks {failed}:\n{output}\n--- service\n{service_log}"
        _check_outputs(script.read_text(), workdir)
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
        log.close()


def _check_outputs(script: str, workdir: Path) -> None:
    """Every file the blocks write (`-o FILE`, `--plot FILE`) is there, and every non-empty PNG is an image.

    (A preview fetched before the first one exists is a 204 with no body: an empty file, as the README says.)
    """
    written = re.findall(r"(?:-o|--output|--plot)\s+(\S+)", script)
    assert written, "the README's blocks write no files"
    for name in written:
        path = workdir / name
        assert path.exists(), f"the README promised {name}, but it was not written"
        if path.suffix == ".png" and path.stat().st_size:
            with Image.open(path) as image:
                image.verify()
