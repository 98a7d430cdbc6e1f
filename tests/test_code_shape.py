"""How the code reads: no function in app/, workers/ or models/ longer than MAX_LINES, unless it says why.

A function that must stay longer carries a comment starting `# long:` with the reason, on the line of its
`def` or just above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.stack import REPO

MAX_LINES = 50


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
