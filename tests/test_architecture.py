"""The layers hold where import-linter cannot look, and its contracts cover every module.

import-linter (pyproject.toml, [tool.importlinter]; run by `make test` and by
tests/test_connector_contract.py) checks the packages citybi and connectors. Two gaps are
closed here:

- pages/*.py and app.py are Streamlit scripts, not a package, so no contract sees them.
  "pages → core → warehouse" is checked on their syntax trees instead: a page may import the
  standard library, streamlit (and its sortable-list component), polars for showing frames,
  and the core's public modules — not DuckDB, sqlglot or the warehouse (every query goes
  through a core call and the warehouse's door), not connectors (files are read by the
  importer), and nothing private (a name or module starting with "_").
- A contract lists modules by name, so a new citybi module would silently fall outside it.
  Every top-level citybi module must sit in exactly one layer, and every one but citybi.ui
  must be a source of the "never imports streamlit" contract.

And the repository explains itself: the design notes cited in docstrings and comments are
sections of docs/ARCHITECTURE.md that exist, not files a clone does not have, and no code
reads from outside the repository. Layers and why: docs/ARCHITECTURE.md § Layers.
"""
from __future__ import annotations

import ast
import importlib.util
import pkgutil
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import citybi

ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------------------
# pages → core: what a page script may import

PAGE_FILES = [*sorted((ROOT / "pages").glob("*.py")), ROOT / "app.py"]
THIRD_PARTY_FOR_PAGES = {"streamlit", "streamlit_sortables", "polars"}
NOT_FOR_PAGES = {
    "citybi.warehouse": "pages reach the warehouse through citybi.ui.state.get_warehouse() and core calls",
    "citybi.querydoor": "the door is the warehouse's own business (Warehouse.run)",
}


def _module_of(node: ast.ImportFrom) -> list[tuple[str, str | None]]:
    """(module, imported name or None) for `from m import a, b`; `from citybi import tempfiles`
    imports the module citybi.tempfiles, so a name that is a submodule counts as the module."""
    base = node.module or ""
    out: list[tuple[str, str | None]] = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        if base.split(".")[0] == "citybi" and _is_module(sub):
            out.append((sub, None))
        else:
            out.append((base, alias.name))
    return out


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def page_import_problems(source: str) -> list[str]:
    """Every import in a page script (also inside functions) that breaks "pages → core"."""
    problems: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            pairs: list[tuple[str, str | None]] = [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                problems.append(f"line {node.lineno}: relative import in a page script")
                continue
            pairs = _module_of(node)
        else:
            continue
        for module, name in pairs:
            top = module.split(".")[0]
            where = f"line {node.lineno}: {module}" + (f".{name}" if name else "")
            if top == "__future__" or top in sys.stdlib_module_names or top in THIRD_PARTY_FOR_PAGES:
                continue
            if top != "citybi":
                problems.append(f"{where}: a page may import only citybi, streamlit, polars and the stdlib")
            elif any(part.startswith("_") for part in module.split(".")[1:]) or (name or "").startswith("_"):
                problems.append(f"{where}: private to the core")
            elif module in NOT_FOR_PAGES:
                problems.append(f"{where}: {NOT_FOR_PAGES[module]}")
            elif not _is_module(module):
                problems.append(f"{where}: no such core module")
    return problems


@pytest.mark.parametrize("path", PAGE_FILES, ids=[p.relative_to(ROOT).as_posix() for p in PAGE_FILES])
def test_page_imports_only_the_public_core(path: Path) -> None:
    assert page_import_problems(path.read_text(encoding="utf-8")) == []


# (id, page source, words every reported problem must contain; [] = allowed)
CHECKER_CASES: list[tuple[str, str, list[str]]] = [
    ("streamlit", "import streamlit as st", []),
    ("core-module", "from citybi.charts.runner import run_chart", []),
    ("core-submodule-by-name", "from citybi import tempfiles", []),
    ("stdlib-and-future", "from __future__ import annotations\nimport datetime as dt\nfrom pathlib import Path", []),
    ("polars", "import polars as pl", []),
    ("duckdb", "import duckdb", ["duckdb", "may import only"]),
    ("sqlglot", "from sqlglot import exp", ["sqlglot.exp", "may import only"]),
    ("connectors", "from connectors import connector_for", ["connectors.connector_for", "may import only"]),
    ("plotly-in-a-function", "def f():\n    import plotly.express as px", ["line 2: plotly.express"]),
    ("warehouse", "from citybi.warehouse import Warehouse", ["get_warehouse"]),
    ("warehouse-as-name", "from citybi import warehouse", ["citybi.warehouse", "get_warehouse"]),
    ("private-module", "from citybi.charts.types._base import Shape", ["private to the core"]),
    ("private-name", "from citybi.catalog import _dataset_row", ["_dataset_row", "private to the core"]),
    ("missing-module", "import citybi.nosuchthing", ["no such core module"]),
    ("relative", "from . import sibling", ["relative import"]),
]


@pytest.mark.parametrize(("source", "words"), [c[1:] for c in CHECKER_CASES], ids=[c[0] for c in CHECKER_CASES])
def test_page_import_checker(source: str, words: list[str]) -> None:
    problems = page_import_problems(source)
    if not words:
        assert problems == []
    else:
        assert len(problems) == 1 and all(w in problems[0] for w in words), problems


# ---------------------------------------------------------------------------------------
# the contracts name every module

def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["name"]: c for c in config["tool"]["importlinter"]["contracts"]}


def _top_level_modules() -> set[str]:
    return {m.name for m in pkgutil.iter_modules(citybi.__path__)}


def test_every_citybi_module_is_in_exactly_one_layer() -> None:
    [layers] = [c for c in _contracts().values() if c["type"] == "layers" and c.get("containers") == ["citybi"]]
    placed = [m.strip() for layer in layers["layers"] for m in layer.replace(":", "|").split("|")]
    assert sorted(placed) == sorted(_top_level_modules())


def test_every_core_module_is_kept_from_streamlit() -> None:
    [contract] = [c for c in _contracts().values()
                  if c["type"] == "forbidden" and "streamlit" in c["forbidden_modules"]]
    expected = {f"citybi.{m}" for m in _top_level_modules() - {"ui"}} | {"connectors"}
    assert sorted(contract["source_modules"]) == sorted(expected)
    assert set(contract["forbidden_modules"]) == {"streamlit", "streamlit_sortables"}


# ---------------------------------------------------------------------------------------
# the repository explains itself

ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
TEXT_ROOTS = ["citybi", "connectors", "pages", "app.py", "bench", "tests", "datasets", "docs", ".streamlit", ".ci",
              "README.md", "pyproject.toml", "Makefile"]
SKIP_DIRS = {"__pycache__", "screenshots", "sample", "out"}


def _repo_text_files() -> list[Path]:
    out: list[Path] = []
    for name in TEXT_ROOTS:
        root = ROOT / name
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        out += [p for p in files if not SKIP_DIRS & set(p.relative_to(ROOT).parts)
                and (p.suffix in {".py", ".md", ".toml", ".yaml", ".yml", ".sh", ""} or p.name == "Makefile")]
    return sorted(set(out) - {Path(__file__).resolve()})


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return ""


def test_cited_design_sections_exist() -> None:
    headings = {m.group(1).strip() for m in re.finditer(r"^#+ (.+)$", _read(ARCHITECTURE), re.M)}
    cited: dict[str, set[str]] = {}
    for path in _repo_text_files():
        for line in _read(path).splitlines():
            if "ARCHITECTURE.md" in line:
                for section in re.findall(r"§ ([A-Z][A-Za-z]*(?: [a-z]+)*)", line):
                    cited.setdefault(section, set()).add(path.relative_to(ROOT).as_posix())
    assert cited, "no docstring cites docs/ARCHITECTURE.md any more"
    assert {s: sorted(f) for s, f in cited.items() if s not in headings} == {}


def test_nothing_cites_design_notes_a_clone_does_not_have() -> None:
    gone = re.compile(r"FACTS\.md|shared/design")
    assert [p.relative_to(ROOT).as_posix() for p in _repo_text_files() if gone.search(_read(p))] == []


def _path_literals_outside(source: str) -> list[str]:
    """String constants (docstrings aside) naming a place outside the repository."""
    tree = ast.parse(source)
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docstrings and re.search(r"(^|/)\.\./shared|/work/", n.value)]


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ('"""Scored by ../shared/nlq/score.py."""\nx = 1', []),
        ('sys.path.insert(0, "/work/shared/nlq")', ["/work/shared/nlq"]),
        ('open("../shared/design/FACTS.md")', ["../shared/design/FACTS.md"]),
        ('p = ROOT / "datasets" / "generate.py"', []),
    ],
    ids=["docstring-mention", "sys-path", "relative-open", "inside-repo"],
)
def test_outside_path_finder(source: str, found: list[str]) -> None:
    assert _path_literals_outside(source) == found


def test_no_code_reads_from_outside_the_repository() -> None:
    found = {p.relative_to(ROOT).as_posix(): _path_literals_outside(_read(p))
             for p in _repo_text_files() if p.suffix == ".py"}
    assert {k: v for k, v in found.items() if v} == {}


# ---------------------------------------------------------------------------------------
# no import cycles at run time, inside packages too (the layers contract sees top-level modules)
def _import_cycles(*packages: str) -> list[list[str]]:
    """Strongly connected groups of modules in the runtime import graph (TYPE_CHECKING imports,
    which never run, are left out; imports inside functions count)."""
    import grimp

    graph = grimp.build_graph(*packages, exclude_type_checking_imports=True)
    modules = sorted(graph.modules)
    edges = {m: sorted(set(graph.find_modules_directly_imported_by(m)) & set(modules)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for m in modules:
        if m not in index:
            visit(m)
    return groups


def test_no_module_imports_itself_back_through_others() -> None:
    assert _import_cycles("citybi", "connectors") == []


def test_the_cycle_finder_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "cyclepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from cyclepkg import b\n")
    (pkg / "b.py").write_text("from cyclepkg import a\n")
    (pkg / "c.py").write_text("from cyclepkg import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _import_cycles("cyclepkg") == [["cyclepkg.a", "cyclepkg.b"]]
