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

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import filefactory as ff

import connectors.excel as excel
from citybi.config import Limits
from citybi.errors import ImportRejected
from citybi.ingest import worker
from citybi.ingest.model import ImportOptions


def _request(path: Path, out: Path, options: ImportOptions | None = None) -> dict[str, Any]:
    return {"op": "prepare", "path": str(path), "options": (options or ImportOptions()).model_dump(mode="json"),
            "sha256": "", "frame_path": str(out), "limits": asdict(Limits()), "recipes": [],
            "original_name": path.name}


def _read(path: Path, tmp: Path, tag: str, options: ImportOptions | None = None) -> tuple[dict[str, Any], pl.DataFrame]:
    try:
        res = worker._prepare(_request(path, tmp / f"{tag}.arrow", options))
        return res["plan"], pl.read_ipc(res["frame_path"])
    finally:
        worker._forget()


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
    with pytest.raises(ImportRejected, match="没有名为「没有这个表」的工作表"):
        worker._prepare(_request(path, tmp_path / "f.arrow", ImportOptions(sheet="没有这个表")))
    worker._forget()  # what the reader does after answering
    assert not excel._BODY_PREFETCH
    assert not [t for t in threading.enumerate() if t.name == "citybi-xlsx-body"]


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
