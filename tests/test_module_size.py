"""Every module and function fits in a reader's head (issue #16, "Upkeep" item 2), read with `ast`.

A module of `src/emotalk` may have at most MAX_MODULE_LINES lines, a function or method (nested ones included) at
most MAX_FUNCTION_LINES, counted from its ``def`` line to its last line. Split a file that grows past the limit by
job into modules beside it, and a long function into named steps. An exception (a table, say) goes into the
allowlists below with its size and why; the test also fails when an entry is no longer needed, so the lists only
shrink.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "emotalk"

MAX_MODULE_LINES = 520
MAX_FUNCTION_LINES = 80

#: Modules allowed past MAX_MODULE_LINES: path relative to src/emotalk -> (the most lines allowed, why).
#: Empty: every module is within the limit (the largest, lit/gan.py, is just under it).
MODULE_ALLOWLIST: dict[str, tuple[int, str]] = {}
#: Functions allowed past MAX_FUNCTION_LINES: "path::Qualified.name" -> (the most lines allowed, why).
#: Empty: every function is within the limit.
FUNCTION_ALLOWLIST: dict[str, tuple[int, str]] = {}


def modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def rel(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, int, int]]:
    """(qualified name, first line, lines) of every function and method under `tree`, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                yield name, node.lineno, (node.end_lineno or node.lineno) - node.lineno + 1
            yield from functions(node, f"{name}.")
        else:
            yield from functions(node, prefix)


def module_sizes() -> dict[str, int]:
    return {rel(p): len(p.read_text(encoding="utf-8").splitlines()) for p in modules()}


def function_sizes() -> dict[str, tuple[int, int]]:
    """ "path::Qualified.name" -> (first line, lines); of two defs of one name (a property's setter), the longer."""
    out: dict[str, tuple[int, int]] = {}
    for p in modules():
        for name, line, size in functions(ast.parse(p.read_text(encoding="utf-8"))):
            key = f"{rel(p)}::{name}"
            if size > out.get(key, (0, 0))[1]:
                out[key] = (line, size)
    return out


def test_sources_found() -> None:
    assert len(modules()) > 50 and "infer/pipeline.py" in module_sizes()


def test_no_module_over_the_limit() -> None:
    too_long = []
    for path, lines in module_sizes().items():
        limit, _ = MODULE_ALLOWLIST.get(path, (MAX_MODULE_LINES, ""))
        if lines > limit:
            too_long.append(f"src/emotalk/{path}: {lines} lines (limit {limit})")
    assert not too_long, (
        "modules too long; split them by job into modules beside them (or, for a table, add an entry with its "
        "reason to MODULE_ALLOWLIST):\n  " + "\n  ".join(too_long)
    )


def test_no_function_over_the_limit() -> None:
    too_long = []
    for key, (line, lines) in function_sizes().items():
        limit, _ = FUNCTION_ALLOWLIST.get(key, (MAX_FUNCTION_LINES, ""))
        if lines > limit:
            path, name = key.split("::")
            too_long.append(f"src/emotalk/{path}:{line} {name}: {lines} lines (limit {limit})")
    assert not too_long, (
        "functions too long; split them into named steps (or, for a table, add an entry with its reason to "
        "FUNCTION_ALLOWLIST):\n  " + "\n  ".join(too_long)
    )


def test_allowlists_only_shrink() -> None:
    """An entry whose module or function is gone or back within the limit is removed, so the lists only shrink."""
    modules_now, functions_now = module_sizes(), function_sizes()
    stale = [
        f"MODULE_ALLOWLIST[{path!r}]: " + (f"{modules_now[path]} lines" if path in modules_now else "no such module")
        for path in MODULE_ALLOWLIST
        if modules_now.get(path, 0) <= MAX_MODULE_LINES
    ]
    stale += [
        f"FUNCTION_ALLOWLIST[{key!r}]: "
        + (f"{functions_now[key][1]} lines" if key in functions_now else "no such function")
        for key in FUNCTION_ALLOWLIST
        if key not in functions_now or functions_now[key][1] <= MAX_FUNCTION_LINES
    ]
    assert not stale, "allowlist entries no longer needed (remove them):\n  " + "\n  ".join(stale)
    for path, (_, why) in {**MODULE_ALLOWLIST, **FUNCTION_ALLOWLIST}.items():
        assert why.strip(), f"allowlist entry {path!r} says why it is allowed"


def test_the_walk_names_nested_methods() -> None:
    """The walk finds a long method nested in a class, with its qualified name and size."""
    body = "\n".join(f"        x{i} = {i}" for i in range(90))
    tree = ast.parse(f"class A:\n    def long(self):\n{body}\n\n\ndef short():\n    return 1\n")
    found = {name: size for name, _, size in functions(tree)}
    assert found == {"A.long": 91, "short": 2}
