"""How the code reads: short functions, and the formatter's layout everywhere.

No function in app/, workers/ or models/ is longer than MAX_LINES unless it says why: a function that must
stay longer carries a comment starting `# long:` with the reason, on the line of its `def` or just above it.
`ruff format --check` runs in `make lint`; the few statements it may not touch are listed in FORMAT_SKIPS,
each with its reason.
"""

from __future__ import annotations

import ast
import tokenize
from pathlib import Path

from tests.stack import REPO

MAX_LINES = 50
FORMATTED = ("app", "workers", "models", "tests", "benchmarks", "deploy")
# The `# fmt: skip` markers allowed, by file, with why the formatter's layout would read worse there.
FORMAT_SKIPS = {
    "app/schemas.py": "VGG19_LAYERS: one row per block of the network, where the formatter puts one name per line",
}


def long_functions(root: Path = REPO, max_lines: int = MAX_LINES) -> list[str]:
    """`path:line name (n lines)` for each function over `max_lines` (decorators not counted) without a reason."""
    out = []
    for package in ("app", "workers", "models"):
        for path in sorted((root / package).rglob("*.py")):
            lines = path.read_text().splitlines()
            for node in ast.walk(ast.parse("\n".join(lines), str(path))):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                said_why = any("# long:" in lines[i] for i in (node.lineno - 2, node.lineno - 1) if i >= 0)
                if length > max_lines and not said_why:
                    out.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length} lines)")
    return out


def test_functions_are_short() -> None:
    assert not long_functions(), "\n".join(long_functions())


def test_the_checker_finds_a_long_function(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_LINES))
    (tmp_path / "app" / "m.py").write_text(f"def short():\n    pass\n\n\ndef longer():\n{body}")
    assert long_functions(tmp_path) == [f"app/m.py:5 longer ({MAX_LINES + 1} lines)"]


def format_skips(root: Path = REPO) -> dict[str, int]:
    """How many `# fmt: skip` (or `# fmt: off`) comments each formatted file holds."""
    found = {}
    for package in FORMATTED:
        for path in sorted((root / package).rglob("*.py")):
            with path.open("rb") as f:
                comments = [t.string for t in tokenize.tokenize(f.readline) if t.type == tokenize.COMMENT]
            n = sum(c.replace(" ", "") in ("#fmt:skip", "#fmt:off") for c in comments)
            if n:
                found[str(path.relative_to(root))] = n
    return found


def test_only_the_listed_statements_escape_the_formatter() -> None:
    assert format_skips() == {path: 1 for path in FORMAT_SKIPS}


def test_the_checker_finds_a_format_skip(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text("X = (1,\n     2)  # fmt: skip\n")
    assert format_skips(tmp_path) == {"tests/t.py": 1}
