"""Connectors judge their own files; the guard only does what holds for every file.

Three things are pinned here: `connectors` never imports `citybi.ingest` (checked at run
time in a fresh interpreter, and statically by import-linter's contract in pyproject.toml),
the Excel connector's own check() refuses hostile workbooks without the guard, and a
connector from outside the project — registered through the public registry, with its own
check() — is called by the guard and its Chinese refusal comes back as ImportRejected.
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import filefactory as ff

from citybi.config import Limits
from citybi.errors import ImportRejected
from citybi.ingest.guard import admit, check_file
from connectors import FileConnector, RawSheet, SheetInfo, connector_for, register, registered, unregister
from connectors.csv import CsvConnector
from connectors.excel import ExcelConnector

ROOT = Path(__file__).resolve().parent.parent
L = Limits()

# ---------------------------------------------------------------------------------------
# no cycle: connectors → citybi.ingest never happens, not even lazily inside check()

# Imports every connector module, then sniffs, checks, lists and reads a real file: the
# old check() imported citybi.ingest.guard inside the call, so importing alone proves little.
_PROBE = """
import sys
from pathlib import Path
import connectors, connectors.builtin, connectors.excel, connectors.csv
from citybi.config import Limits
from connectors import connector_for
p = Path(sys.argv[1])
c = connector_for(p)
kind = c.check(p, Limits())
c.read(p, None, Limits()).load_body(0)
print(kind, sorted(m for m in sys.modules if m == "citybi.ingest" or m.startswith("citybi.ingest.")))
"""


@pytest.mark.parametrize(
    ("build", "name", "kind"),
    [
        (ff.xlsx_titled_merged, "t.xlsx", "xlsx"),
        (ff.xls_basic, "t.xls", "xls"),
        (lambda p: ff.csv_text(p, "区,数量\n南湖区,3\n"), "t.csv", "csv"),
    ],
    ids=["xlsx", "xls", "csv"],
)
def test_connectors_run_without_importing_ingest(tmp_path: Path, build: Callable[[Path], Path], name: str,
                                                 kind: str) -> None:
    p = build(tmp_path / name)
    out = subprocess.run([sys.executable, "-c", _PROBE, str(p)], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    assert out.stdout.strip() == f"{kind} []", out.stdout


def test_import_linter_contracts_kept() -> None:
    """pyproject.toml [tool.importlinter]: also sees imports inside functions that no test runs."""
    lint = Path(sys.executable).with_name("lint-imports")
    assert lint.exists(), "import-linter is in the dev extras: `make .venv/.installed` installs it"
    out = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout and "KEPT" in out.stdout, out.stdout


# ---------------------------------------------------------------------------------------
# the Excel connector's own checks (formerly inside the guard), called directly

EXCEL_REFUSALS: list[tuple[str, Callable[[Path], Path], Limits, str]] = [
    ("html-as-xls", lambda p: (p.write_text("<html><body><table></table></body></html>"), p)[1], L,
     "网页（HTML）格式"),
    ("encrypted", ff.encrypted_xlsx, L, "文件设置了打开密码"),
    ("corrupt-zip", ff.corrupt_zip, L, "文件已损坏"),
    ("too-big", ff.xlsx_titled_merged, Limits(max_excel_bytes=1000), "Excel 文件太大"),
    ("dimension-bomb", ff.dimension_bomb, L, "声明的数据范围有 16384 列"),
    ("far-cell", lambda p: ff.dimension_bomb(p, dimension=None), L, "XFD 列有单元格"),
    ("zip-bomb", ff.zip_bomb, L, "压缩比异常"),
    ("zip-entries", ff.xlsx_titled_merged, Limits(max_zip_entries=3), "包含"),
]


@pytest.mark.parametrize(("build", "limits", "words"), [c[1:] for c in EXCEL_REFUSALS],
                         ids=[c[0] for c in EXCEL_REFUSALS])
def test_excel_check_refuses(tmp_path: Path, build: Callable[[Path], Path], limits: Limits, words: str) -> None:
    p = build(tmp_path / "f.xlsx")
    conn = ExcelConnector()
    with open(p, "rb") as fh:
        assert conn.sniff(fh.read(8192), p)  # claimed, so the precise message is Excel's to give
    with pytest.raises(ImportRejected) as ei:
        conn.check(p, limits)
    assert words in ei.value.message


@pytest.mark.parametrize(
    ("build", "name", "connector", "kind"),
    [
        (ff.xlsx_titled_merged, "t.xlsx", "excel", "xlsx"),
        (ff.xls_basic, "t.xls", "excel", "xls"),
        (ff.csv_gbk_nbs, "t.csv", "csv", "csv"),
        (ff.xlsx_titled_merged, "renamed.csv", "excel", "xlsx"),  # content decides, not the name
        (lambda p: ff.csv_text(p, "a,b\n1,2\n"), "renamed.xlsx", "csv", "csv"),
    ],
    ids=["xlsx", "xls", "csv", "xlsx-named-csv", "csv-named-xlsx"],
)
def test_admit_returns_the_connector_and_its_kind(tmp_path: Path, build: Callable[[Path], Path], name: str,
                                                  connector: str, kind: str) -> None:
    conn, got = admit(build(tmp_path / name), L)
    assert (conn.name, got) == (connector, kind)


def test_builtins_satisfy_the_protocol() -> None:
    assert all(isinstance(c, FileConnector) for c in registered().values())
    assert {n: (c.label, c.max_bytes(L)) for n, c in registered().items()} == {
        "excel": ("Excel", L.max_excel_bytes), "csv": ("CSV", L.max_csv_bytes),
    }


# ---------------------------------------------------------------------------------------
# a connector from outside: JSON lines, registered like a plug-in, with its own check()


class JsonLinesConnector:
    """One JSON object per line → one sheet; refuses a line that is not a JSON object."""

    name = "test-jsonl"
    label = "JSON Lines"
    extensions = (".jsonl",)

    def __init__(self) -> None:
        self.checked: list[str] = []

    def sniff(self, head: bytes, path: Path) -> bool:
        return head.lstrip()[:1] == b"{"

    def max_bytes(self, limits: Limits) -> int:
        return 2048  # small on purpose: check() below forgets it, and the guard must not

    def check(self, path: Path, limits: Limits) -> str:
        self.checked.append(path.name)
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                ok = isinstance(json.loads(line), dict) if line.strip() else True
            except ValueError:
                ok = False
            if not ok:
                raise ImportRejected(f"第 {n} 行不是一个 JSON 对象，无法导入。请修正该行后再上传。")
        return "jsonl"

    def _rows(self, path: Path) -> list[dict[str, Any]]:
        return [json.loads(s) for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]

    def sheets(self, path: Path, limits: Limits) -> list[SheetInfo]:
        rows = self._rows(path)
        keys = list(dict.fromkeys(k for r in rows for k in r))
        return [SheetInfo(path.stem, 0, len(rows) + 1, len(keys), not rows)]

    def read(self, path: Path, sheet: str | None, limits: Limits) -> RawSheet:
        rows = self._rows(path)
        keys = list(dict.fromkeys(k for r in rows for k in r))
        top = [keys, *([r.get(k) for k in keys] for r in rows)]
        return RawSheet(path.stem, top, len(top), len(keys), [],
                        lambda start: pl.DataFrame({f"c{j}": [r[j] for r in top[start:]] for j in range(len(keys))}))


@pytest.fixture
def jsonl() -> Iterator[JsonLinesConnector]:
    conn = JsonLinesConnector()
    registered()  # built-ins first, so messages list them in their usual order
    register(conn)
    try:
        yield conn
    finally:
        unregister(conn.name)


def _lines(*objs: object) -> str:
    return "\n".join(o if isinstance(o, str) else json.dumps(o, ensure_ascii=False) for o in objs) + "\n"


# (id, file name, content, expected kind or the words of the refusal)
OUTSIDE: list[tuple[str, str, str | bytes, str]] = [
    ("good", "a.jsonl", _lines({"区": "南湖区", "数量": 3}, {"区": "北塘区", "数量": 5}), "jsonl"),
    ("bad-line", "b.jsonl", _lines({"区": "南湖区"}, "{区: 北塘区}"), "第 2 行不是一个 JSON 对象"),
    ("array-line", "c.jsonl", _lines({"a": 1}, [1, 2]), "第 2 行不是一个 JSON 对象"),
    ("over-its-own-max", "d.jsonl", _lines(*({"n": i, "说明": "x" * 40} for i in range(60))),
     "JSON Lines 文件太大（4 KB），上限为 2 KB"),
    # a catch-all text sniff (CSV) must not take a file that names a more specific connector …
    ("text-not-taken-by-csv", "e.jsonl", _lines({"x": 1}), "jsonl"),
    # … nor may the plug-in take what is not its own
    ("csv-still-csv", "f.csv", "a,b\n1,2\n", "csv"),
    ("binary", "g.jsonl", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4, "不是 Excel、CSV 或 JSON Lines 文件"),
]


@pytest.mark.parametrize(("name", "content", "expected"), [c[1:] for c in OUTSIDE], ids=[c[0] for c in OUTSIDE])
def test_guard_calls_an_outside_connector(tmp_path: Path, jsonl: JsonLinesConnector, name: str,
                                          content: str | bytes, expected: str) -> None:
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    if expected in ("jsonl", "csv"):
        assert check_file(p, L) == expected
    else:
        with pytest.raises(ImportRejected) as ei:
            check_file(p, L)
        assert expected in ei.value.message
    # the plug-in's check() ran exactly for the files it claimed
    claimed = p.suffix == ".jsonl" and not isinstance(content, bytes)
    assert jsonl.checked == ([name] if claimed else [])


def test_outside_connector_reads_after_the_guard(tmp_path: Path, jsonl: JsonLinesConnector) -> None:
    p = tmp_path / "stations.jsonl"
    p.write_text(_lines({"站点": "东站", "客流": 120}, {"站点": "西站", "客流": 80}), encoding="utf-8")
    conn, kind = admit(p, L)
    assert (conn is jsonl, kind) == (True, "jsonl")
    raw = conn.read(p, None, L)
    assert raw.top == [["站点", "客流"], ["东站", 120], ["西站", 80]]
    assert raw.load_body(1).rows() == [("东站", 120), ("西站", 80)]


def test_unregister_leaves_only_the_builtins(tmp_path: Path) -> None:
    conn = JsonLinesConnector()
    register(conn)
    assert unregister(conn.name) is conn
    assert unregister(conn.name) is None
    p = tmp_path / "x.jsonl"
    p.write_text(_lines({"x": 1}), encoding="utf-8")
    assert isinstance(connector_for(p), CsvConnector)  # back to plain text once the plug-in is gone
    assert set(registered()) == {"excel", "csv"}
