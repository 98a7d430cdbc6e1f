"""Imports go one way, app <- workers -> models, read from the source with `ast` (function-level imports too).

Also: the API process never loads torch, and no module of the project imports one that imports it back.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import REPO

PACKAGES = ("app", "workers", "models")
# The CLI's local runs reach the job bodies through this one module (lazily; see its docstring).
LOCAL_RUNNER = "app/cli/local.py"


def _modules() -> dict[str, Path]:
    """Every module of the project by dotted name (a package by its own name, from its __init__.py)."""
    out = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str) -> set[str]:
    """The modules `name` imports anywhere in its source; `from pkg import sub` counts as `pkg.sub`."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return found


def _top(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.split(".")[0] == "app"))
def test_app_imports_neither_workers_nor_models(name: str) -> None:
    if MODULES[name] == REPO / LOCAL_RUNNER:
        assert not _top(_imports(name)) & {"models"}, "the local runner reaches models/ only through workers/"
        return
    assert not _top(_imports(name)) & {"workers", "models", "torch", "torchvision"}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.split(".")[0] == "models"))
def test_models_know_nothing_of_the_service(name: str) -> None:
    forbidden = {"app", "workers", "fastapi", "starlette", "celery", "kombu", "redis", "httpx", "uvicorn"}
    assert not _top(_imports(name)) & forbidden


@pytest.mark.parametrize(("one", "other"), [("models.nst", "models.waves"), ("models.waves", "models.nst")])
def test_the_algorithm_packages_never_import_each_other(one: str, other: str) -> None:
    for name in MODULES:
        if name == one or name.startswith(one + "."):
            assert not {n for n in _imports(name) if n == other or n.startswith(other + ".")}, name


def test_no_import_cycles() -> None:
    graph = {name: {n for n in _imports(name) if n in MODULES} for name in MODULES}
    cycles = []

    def visit(name: str, path: list[str]) -> None:
        for nxt in sorted(graph[name]):
            if nxt in path:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in done:
                visit(nxt, [*path, nxt])
        done.add(name)

    done: set[str] = set()
    for name in sorted(graph):
        visit(name, [name])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The AST reader must not miss the imports that a module-load check misses."""
    MODULES["app._probe"] = probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from models.nst import stylize\n    import workers.jobs\nfrom . import cli\n")
    try:
        assert _imports("app._probe") == {"models.nst.stylize", "workers.jobs", "app.cli"}
    finally:
        del MODULES["app._probe"]


def _loaded_after(code: str) -> set[str]:
    script = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_api_process_never_imports_torch() -> None:
    loaded = _loaded_after("from app.main import create_app; import app.cli; create_app()")
    assert not loaded & {"torch", "torchvision", "models", "workers"}


def test_the_models_load_nothing_of_the_service() -> None:
    loaded = _loaded_after("import models.nst, models.waves, models.progress")
    assert not loaded & {"fastapi", "starlette", "celery", "kombu", "redis", "app", "workers"}
