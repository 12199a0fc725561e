"""The package's layering (style.md "Imports flow one way"), read from every module's imports with `ast`.

spec/errors → audio/video → data/models → lit → train; infer, evaluate and web sit above models and video and never
import lit or train (inference must not need Lightning; evaluate and lit once imported each other). No two
packages and no two files may import each other, lazily or not.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "emotalk"

#: The bottom: constants, errors, the ffmpeg wrapper, CREMA-D names, atomic writes and the package root.
BASE = frozenset({"emotalk", "spec", "errors", "ffmpeg", "cremad", "fsutil"})
#: What each unit (a subpackage, or a top-level module) may import besides itself; None: anything (entry points).
ALLOWED: dict[str, frozenset[str] | None] = {
    **{b: BASE for b in BASE},
    "audio": BASE,
    "video": BASE,
    "plots": BASE | {"video"},
    "data": BASE | {"audio", "video"},
    "models": BASE | {"audio", "video"},
    "lit": BASE | {"audio", "video", "plots", "data", "models"},
    "sweep": BASE,
    "train": BASE | {"audio", "video", "plots", "data", "models", "lit", "sweep"},
    "infer": BASE | {"audio", "video", "models"},
    "evaluate": BASE | {"audio", "video", "plots", "data", "models", "infer"},
    "web": BASE | {"audio", "video", "models", "infer"},
    "cli": None,
    "bench": None,
    "benchmarks": None,
}


#: Edges still to remove, each with why it is here. The test fails when one goes away too, so the list only shrinks.
KNOWN_EDGES: dict[tuple[str, str], str] = {}
#: File cycles still to remove (the same rule).
KNOWN_CYCLES: set[frozenset[str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, modules: set[str]) -> Iterator[tuple[str, int]]:
    """Every `emotalk.*` module a module imports (lazy imports inside functions included), with its line.

    `from emotalk.video import crop` imports the module emotalk.video.crop; `from emotalk.video.crop import x`
    the module emotalk.video.crop; a name is resolved to the longest module it starts with.
    """
    me = module_name(path)
    package = me.split(".") if path.name == "__init__.py" else me.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                yield name, node.lineno


def graph() -> dict[str, dict[str, int]]:
    """module → {imported emotalk module: first line}."""
    paths = {module_name(p): p for p in SRC.rglob("*.py")}
    out: dict[str, dict[str, int]] = {}
    for mod, path in paths.items():
        edges: dict[str, int] = {}
        for name, line in imported(path, set(paths)):
            if name != mod:
                edges.setdefault(name, line)
        out[mod] = edges
    return out


def unit(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_every_unit_has_a_layer() -> None:
    units = {unit(m) for m in graph()}
    assert units <= set(ALLOWED), f"add these to ALLOWED in tests/test_layering.py: {sorted(units - set(ALLOWED))}"


def test_imports_flow_one_way() -> None:
    bad = []
    for mod, edges in graph().items():
        allowed = ALLOWED.get(unit(mod), frozenset())
        if allowed is None:
            continue
        bad += [
            f"{mod} -> {t} (line {line})"
            for t, line in edges.items()
            if unit(t) not in allowed | {unit(mod)} and (mod, t) not in KNOWN_EDGES
        ]
    assert not bad, "imports against the layering:\n" + "\n".join(sorted(bad))
    gone = [e for e in KNOWN_EDGES if e[1] not in graph().get(e[0], {})]
    assert not gone, f"remove from KNOWN_EDGES (fixed): {gone}"


def cycles(level: str) -> list[frozenset[str]]:
    """The groups of units (or files) that reach each other through imports: strongly connected components > 1."""
    key = unit if level == "unit" else (lambda m: m)
    nodes: dict[str, set[str]] = {}
    for mod, edges in graph().items():
        nodes.setdefault(key(mod), set()).update(key(t) for t in edges if key(t) != key(mod))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[frozenset[str]] = []

    def visit(n: str) -> None:  # Tarjan
        index[n] = low[n] = len(index)
        stack.append(n)
        for m in sorted(nodes.get(n, ())):
            if m not in index:
                visit(m)
                low[n] = min(low[n], low[m])
            elif m in stack:
                low[n] = min(low[n], index[m])
        if low[n] == index[n]:
            group: set[str] = set()
            while n not in group:
                group.add(stack.pop())
            if len(group) > 1:
                out.append(frozenset(group))

    for n in sorted(nodes):
        if n not in index:
            visit(n)
    return out


@pytest.mark.parametrize("level", ["unit", "file"])
def test_no_import_cycles(level: str) -> None:
    """No group of packages, and no group of files, import each other (lazy imports count: they hide a cycle)."""
    found = set(cycles(level))
    new = [" <-> ".join(sorted(c)) for c in found - KNOWN_CYCLES]
    assert not new, f"{level} import cycles: {new}"
    gone = [" <-> ".join(sorted(c)) for c in KNOWN_CYCLES - found if level == "file"]
    assert not gone, f"remove from KNOWN_CYCLES (fixed): {gone}"


def test_the_checker_sees_a_forbidden_edge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rules are live: a lazy `from emotalk.lit...` inside infer/ is reported with its line."""
    pkg = tmp_path / "emotalk"
    for sub in ("infer", "lit"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "lit" / "stages.py").write_text("from ..infer import model\n")
    (pkg / "infer" / "model.py").write_text("def f():\n    from emotalk.lit.stages import x\n")
    monkeypatch.setitem(globals(), "SRC", pkg)
    assert graph()["emotalk.infer.model"] == {"emotalk.lit.stages": 2}
    assert graph()["emotalk.lit.stages"] == {"emotalk.infer.model": 1}
    monkeypatch.setitem(globals(), "KNOWN_EDGES", {})
    monkeypatch.setitem(globals(), "KNOWN_CYCLES", set())
    with pytest.raises(AssertionError, match=r"emotalk.infer.model -> emotalk.lit.stages \(line 2\)"):
        test_imports_flow_one_way()
    assert cycles("file") == [frozenset({"emotalk.infer.model", "emotalk.lit.stages"})]
    with pytest.raises(AssertionError, match="file import cycles"):
        test_no_import_cycles("file")
