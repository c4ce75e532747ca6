"""The early body read of a big .xlsx sheet (ExcelConnector.early_top / prefetch_body): same result, or none.

The reader starts fastexcel's body read before the guard's scan when a sheet's XML is big
(connectors.excel._PREFETCH_MIN_BYTES, 32 MB). Building such a workbook takes long, so these tests
lower the threshold to 0 and call the reader's own request handler in this process: workbook →
the plan and frame must equal those of the plain read, the early read must be the one used, and
an early read that turns out unusable (another first row) or orphaned (a refused request) is
waited for and dropped, never used.
"""
from __future__ import annotations

import sys
import threading
import zipfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import filefactory as ff
from reader_calls import hint as _hint
from reader_calls import read as _read
from reader_calls import refuse_sheet, threads_named

import connectors.excel as excel
from citybi.config import Limits
from citybi.errors import ImportRejected
from citybi.ingest import worker
from citybi.ingest.model import ImportOptions

Reads = list[tuple[str, int, bool]]


@pytest.fixture
def body_reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    """Every fastexcel body read, as (sheet, first row, read early on its own thread)."""
    seen: Reads = []
    real = excel._fastexcel_body

    def spy(path: Path, sheet: str, start: int) -> Any:
        seen.append((sheet, start, threading.current_thread().name == "citybi-xlsx-body"))
        return real(path, sheet, start)

    monkeypatch.setattr(excel, "_fastexcel_body", spy)
    return seen


WORKBOOKS: list[tuple[str, Callable[[Path], Path]]] = [
    ("titled-merged", ff.xlsx_titled_merged),
    ("three-level-form", ff.xlsx_three_level_form),
    ("dept-report", lambda p: ff.xlsx_dept_report(p, 4)),
    ("code-header", ff.xlsx_code_header),
    ("unit-line", ff.xlsx_unit_line),
    ("two-tables", ff.xlsx_two_tables),
    ("offset", ff.xlsx_offset),
    ("mixed", ff.xlsx_mixed),
]


@pytest.mark.parametrize(("case", "build"), WORKBOOKS, ids=[w[0] for w in WORKBOOKS])
def test_early_read_gives_the_plain_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str,
                                           build: Callable[[Path], Path], body_reads: Reads) -> None:
    path = build(tmp_path / f"{case}.xlsx")
    plain_plan, plain = _read(path, tmp_path, "plain")
    assert len(body_reads) == 1
    monkeypatch.setattr(excel, "_PREFETCH_MIN_BYTES", 0)
    early_plan, early = _read(path, tmp_path, "early")
    assert early.equals(plain)
    assert early_plan == plain_plan
    (sheet, start, early_then), (sheet2, start2, early_now) = body_reads
    assert (sheet2, start2) == (sheet, start) and not early_then and early_now  # the early read was the one used
    assert not excel._BODY_PREFETCH


def test_small_sheets_are_not_read_early(tmp_path: Path) -> None:
    path = ff.xlsx_titled_merged(tmp_path / "small.xlsx")
    assert excel.ExcelConnector().early_top(path, None, Limits()) is None


def test_an_early_read_from_another_row_is_dropped_not_used(tmp_path: Path, body_reads: Reads) -> None:
    path = ff.xlsx_titled_merged(tmp_path / "t.xlsx")
    _, plain = _read(path, tmp_path, "plain")
    sheet, start, _ = body_reads[0]
    excel.ExcelConnector().prefetch_body(path, sheet, start + 1)  # as if a recipe moved the header after
    _, again = _read(path, tmp_path, "again")
    assert again.equals(plain)
    assert body_reads[1:] == [(sheet, start + 1, True), (sheet, start, False)]
    assert not excel._BODY_PREFETCH


def test_a_refused_request_leaves_no_read_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = ff.xlsx_titled_merged(tmp_path / "t.xlsx")
    monkeypatch.setattr(excel, "_PREFETCH_MIN_BYTES", 0)
    excel.ExcelConnector().prefetch_body(path, "汇总", 3)  # started, then the request is refused
    refuse_sheet(path, tmp_path, "没有这个表")
    assert not excel._BODY_PREFETCH and not threads_named("citybi-xlsx-body")


def _big_sheet_with_a_far_cell(path: Path) -> Path:
    """~35 MB of sheet XML (numbers that do not compress like a bomb), then one cell at XFD1048576.

    Big enough to be read early; calamine would allocate 1,048,576 × 16,384 cells for it and abort
    the reader, which the guard's scan must beat with its clear refusal."""
    rows = [f'<row r="{r}"><c r="A{r}"><v>{(r * 7919) % 104729 / 7.0:.9f}</v></c>'
            f'<c r="B{r}"><v>{(r * 104723) % 1299709}</v></c></row>' for r in range(1, 400_001)]
    body = ("<sheetData>" + "".join(rows)
            + '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>')
    return ff.raw_xlsx(path, {"Sheet1": body})


def test_a_big_hostile_sheet_is_still_refused_clearly(tmp_path: Path) -> None:
    """Through the real sandboxed reader, with the early read on (the sheet is over the threshold)."""
    from citybi.ingest.pipeline import prepare

    path = _big_sheet_with_a_far_cell(tmp_path / "far.xlsx")
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("xl/worksheets/sheet1.xml").file_size > excel._PREFETCH_MIN_BYTES
    with pytest.raises(ImportRejected, match="XFD 列有单元格"):
        prepare(path, ImportOptions(), Limits())
    # the reader that refused it retires (calamine may still abort it): the next import gets a new one at once
    small = ff.xlsx_titled_merged(tmp_path / "next.xlsx")
    prepared = prepare(small, ImportOptions(), Limits())
    try:
        assert prepared.frame().height == 3
    finally:
        prepared.discard()


# --- the reader told the file at its start (worker.early_hint, `citybi ingest`) ----------------------


@pytest.mark.parametrize(("case", "build"), WORKBOOKS[:4], ids=[w[0] for w in WORKBOOKS[:4]])
def test_a_hinted_read_gives_the_plain_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str,
                                              build: Callable[[Path], Path], body_reads: Reads) -> None:
    path = build(tmp_path / f"{case}.xlsx")
    plain_plan, plain = _read(path, tmp_path, "plain")
    monkeypatch.setattr(excel, "_PREFETCH_MIN_BYTES", 0)
    assert worker._start_from_hint(_hint(path)) is None  # started, and the guard let it pass
    assert worker._early_read_running() or excel._BODY_PREFETCH
    hinted_plan, hinted = _read(path, tmp_path, "hinted")
    assert hinted.equals(plain) and hinted_plan == plain_plan
    (sheet, start, _), *rest = body_reads
    assert rest == [(sheet, start, True)]  # one more read: the hinted one, used by the request (not started twice)


def test_a_hint_for_another_header_row_is_dropped_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          body_reads: Reads) -> None:
    path = ff.xlsx_dept_report(tmp_path / "r.xlsx", 4)
    _, plain = _read(path, tmp_path, "plain")
    sheet, start, _ = body_reads[0]
    monkeypatch.setattr(excel, "_PREFETCH_MIN_BYTES", 0)
    worker._start_from_hint(_hint(path, ImportOptions(header_row=start + 2)))  # as if the command said another row
    _, again = _read(path, tmp_path, "again")
    assert again.equals(plain)
    assert body_reads[1:] == [(sheet, start + 2, True), (sheet, start, False)]  # waited for, dropped, read again
    assert not excel._BODY_PREFETCH


@pytest.mark.parametrize(("name", "options", "hinted"), [
    ("a.xlsx", ImportOptions(), True),
    ("a.XLSM", ImportOptions(sheet="汇总", header_row=3), True),
    ("a.csv", ImportOptions(), True),  # polars' body read, while the reader loads the shaping code
    ("a.TSV", ImportOptions(header_row=2), True),
    ("a.json", ImportOptions(), False),
    ("a.xls", ImportOptions(), False),
    ("a.xlsx", ImportOptions(union_sheets=True), False),  # several sheets: no one body to start
    ("a.xlsx", ImportOptions(sheet_table=2), False),  # a table further down: its rows are known later
])
def test_which_imports_hint_their_reader(tmp_path: Path, name: str, options: ImportOptions, hinted: bool) -> None:
    hint = worker.early_hint(tmp_path / name, options, Limits())
    assert (hint is not None) == hinted
    if hint is not None:
        assert (hint["path"], hint["sheet"], hint["header_row"]) == (str((tmp_path / name).resolve()),
                                                                     options.sheet, options.header_row)
        assert hint["limits"] == asdict(Limits())


_BEFORE_POLARS = """
import json, sys
from pathlib import Path
from citybi.ingest import worker
import connectors.excel as excel
seen = []
real = excel._fastexcel_body
def spy(path, sheet, start):
    seen.append(["polars" in sys.modules, "openpyxl" in sys.modules])  # when the body read starts
    return real(path, sheet, start)
excel._fastexcel_body = spy
excel._PREFETCH_MIN_BYTES = 0
worker._start_from_hint(json.loads(sys.argv[1]))
excel.settle_prefetch()
print(json.dumps(seen))
"""


def test_the_hinted_reader_starts_the_body_read_before_loading_polars(tmp_path: Path) -> None:
    """No connector module loads polars on import (connectors/__init__.py), and the first rows that place the
    early read are read without openpyxl (excel._quick_top): the reader told a big .xlsx starts fastexcel on
    it first, and polars' and openpyxl's ~0.2–0.35 s of imports run beside that read."""
    import json
    import subprocess

    path = ff.xlsx_dept_report(tmp_path / "r.xlsx", 4)
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", _BEFORE_POLARS, json.dumps(_hint(path))], capture_output=True,
                         text=True, cwd=root, timeout=60, check=True)
    assert json.loads(out.stdout) == [[False, False]]


def _cells_zoo(path: Path) -> Path:
    """What a sheet's cells can be: shared strings (rich text, phonetic guide, an escaped _x005F_), inline
    text, booleans, errors, a formula's cached text, integers and decimals, cells and rows without r=."""
    shared = ["<si><t>区</t></si>", "<si><r><t>清运</t></r><r><rPr><b/></rPr><t>量</t></r></si>",
              "<si><t>南湖区</t><rPh sb=\"0\" eb=\"1\"><t>なん</t></rPh></si>", "<si><t>a_x005F_x000D_b</t></si>"]
    body = ('<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>2024年报表</t></is></c></row>'
            '<row r="3"><c r="A3" t="s"><v>0</v></c><c r="C3" t="s"><v>1</v></c><c t="str"><v>状态</v></c></row>'
            '<row><c r="A4" t="s"><v>2</v></c><c r="C4"><v>12.5</v></c><c r="D4" t="b"><v>1</v></c></row>'
            '<row r="5"><c r="A5" t="s"><v>3</v></c><c r="C5"><v>7</v></c><c r="D5" t="e"><v>#N/A</v></c>'
            '<c r="E5"><v>1E3</v></c><c r="F5"/></row><row r="6"/></sheetData>')
    return ff.raw_xlsx(path, {"S": body}, shared=shared)


QUICK_TOP_CASES = [*WORKBOOKS, ("cells-zoo", _cells_zoo)]


@pytest.mark.parametrize(("case", "build"), QUICK_TOP_CASES, ids=[w[0] for w in QUICK_TOP_CASES])
def test_quick_first_rows_are_openpyxls_but_for_dates(tmp_path: Path, case: str,
                                                       build: Callable[[Path], Path]) -> None:
    """excel._quick_top (standard library, for the early read) → the rows openpyxl reads, cell for cell;
    only a date-formatted number stays a number. The header search finds the same row on both."""
    import datetime as dt

    path = build(tmp_path / f"{case}.xlsx")
    with zipfile.ZipFile(path) as zf:
        parts = [p for p in excel.xlsx_sheet_parts(zf) if p.part and not p.chart]
        for sp in parts:
            quick, exact = excel._quick_top(zf, sp.part), excel.ExcelConnector()._xlsx_top(path, sp.part)
            assert len(quick) == len(exact)
            for q, e in zip(quick, exact, strict=True):
                assert len(q) == len(e)
                for a, b in zip(q, e, strict=True):
                    assert a == b or (isinstance(b, dt.date | dt.datetime | dt.time) and isinstance(a, int | float))
            if exact:
                assert worker.body_start_of(quick, None, None) == worker.body_start_of(exact, None, None)
    if case == "cells-zoo":
        with zipfile.ZipFile(path) as zf:
            rows = excel._quick_top(zf, "xl/worksheets/sheet1.xml")
        assert rows == [["2024年报表"], [], ["区", None, "清运量", "状态"], ["南湖区", None, 12.5, True],
                        ["a_x000D_b", None, 7, "#N/A", 1000.0]]


def test_a_big_hostile_sheet_is_refused_clearly_by_the_command(tmp_path: Path) -> None:
    """`citybi ingest` hints its reader, which starts calamine on the sheet before anything else: the guard,
    run beside it at once, refuses the sheet and the refusal is the answer (not calamine's abort)."""
    import os
    import subprocess

    path = _big_sheet_with_a_far_cell(tmp_path / "far.xlsx")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for _ in range(2):
        res = subprocess.run([sys.executable, "-m", "citybi", "ingest", str(path), "--table", "t",
                              "--db", str(tmp_path / "w.duckdb")], capture_output=True, text=True, env=env,
                             timeout=120, check=False)
        assert res.returncode == 2, res.stderr
        assert "XFD 列有单元格" in res.stderr and "意外" not in res.stderr


def test_the_reader_loads_openpyxl_without_numpy() -> None:
    """openpyxl imports numpy (~50 ms) only to write numpy numbers; the reader reads cells (worker._import_openpyxl)."""
    import subprocess

    code = ("import sys\nfrom citybi.ingest import worker\nworker._import_openpyxl()\n"
            "assert 'numpy' not in sys.modules and 'PIL' not in sys.modules, 'loaded'\n"
            "import openpyxl.compat.numbers as n\nassert n.NUMPY is False\n"
            "import numpy\nprint(numpy.arange(3).sum())\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
                         cwd=Path(__file__).resolve().parents[1])
    assert res.returncode == 0 and res.stdout.strip() == "3", res.stderr


def test_the_zip_checks_run_once_per_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader's hint, early_top and the guard each check the package; its CRC pass (up to 64 MB read)
    runs once per request, and again for the next request (what one request learnt is forgotten)."""
    path = ff.xlsx_titled_merged(tmp_path / "t.xlsx")
    monkeypatch.setattr(excel, "_PREFETCH_MIN_BYTES", 0)
    passes: list[str] = []
    real = zipfile.ZipFile.testzip

    def spy(zf: zipfile.ZipFile) -> str | None:
        passes.append(str(zf.filename))
        return real(zf)

    monkeypatch.setattr(zipfile.ZipFile, "testzip", spy)
    for n in (1, 2):
        assert worker._start_from_hint(_hint(path)) is None
        _read(path, tmp_path, f"r{n}")
        assert passes == [str(path)] * n
