"""Hostile and broken uploads: each is refused with a Chinese message, and nothing crashes.

Every case runs twice: through the in-process guard (fast, precise) and through the real
child-process pipeline (what the app and CLI call). The crash cases make the child die by
a signal / exhaust its memory cap / hang, and the parent must turn that into
ImportRejected while this test process keeps running.
"""
from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import filefactory as ff

from citybi.config import Limits
from citybi.errors import ImportRejected
from citybi.ingest.guard import check_file
from citybi.ingest.model import ImportOptions
from citybi.ingest.pipeline import CRASH_MSG, list_sheets, prepare
from citybi.ingest.worker import CRASH_ENV
from connectors.base import connector_for

MB = 1024 * 1024
L = Limits()


def _empty_file(p: Path) -> Path:
    p.write_bytes(b"")
    return p


def _html_xls(p: Path) -> Path:
    p.write_text("<html><body><table><tr><td>1</td></tr></table></body></html>", encoding="utf-8")
    return p


def _ole2_word(p: Path) -> Path:
    return ff.ole2(p, {"WordDocument": b"\x00" * 4096})


def _declared(ref: str) -> Callable[[Path], Path]:
    def build(p: Path) -> Path:
        body = f'<dimension ref="{ref}"/><sheetData><row r="1"><c r="A1"><v>1</v></c></row></sheetData>'
        return ff.raw_xlsx(p, {"Sheet1": body})

    return build


def _csv(p: Path) -> Path:
    return ff.csv_text(p, "a,b\n1,2\n" * 10)


# (id, builder, file name, limits, expected words in the message)
CASES: list[tuple[str, Callable[[Path], Path], str, Limits, str]] = [
    ("renamed-binary", ff.renamed_binary, "report.xlsx", L, "不是 Excel 或 CSV 文件"),
    ("renamed-binary-csv", ff.renamed_binary, "report.csv", L, "不是 Excel 或 CSV 文件"),
    ("ole2-word-doc", _ole2_word, "report.xls", L, "不是 Excel 或 CSV 文件"),
    ("html-as-xls", _html_xls, "report.xls", L, "网页（HTML）格式"),
    ("corrupt-zip", ff.corrupt_zip, "broken.xlsx", L, "文件已损坏"),
    ("dimension-bomb", ff.dimension_bomb, "bomb.xlsx", L, "声明的数据范围有 16384 列，超过上限 1000 列"),
    ("bomb-no-dimension", lambda p: ff.dimension_bomb(p, dimension=None), "bomb.xlsx", L, "XFD 列有单元格"),
    ("bomb-lying-dimension", lambda p: ff.dimension_bomb(p, dimension="A1"), "bomb.xlsx", L, "XFD 列有单元格"),
    ("declared-rows", _declared("A1:B3000000"), "rows.xlsx", L, "3000000 行，超过上限 2000000 行"),
    ("declared-cells", _declared("A1:ALL100000"), "cells.xlsx", L, "单元格数超过上限 60000000"),
    ("zip-bomb-ratio", ff.zip_bomb, "zb.xlsx", L, "压缩比异常"),
    ("zip-bomb-total", ff.zip_bomb, "zb.xlsx", Limits(max_unzipped_bytes=5 * MB, max_zip_ratio=1e9), "解压后太大"),
    ("zip-entries", ff.xlsx_titled_merged, "many.xlsx", Limits(max_zip_entries=3), "包含"),
    ("empty-file", _empty_file, "empty.xlsx", L, "文件是空的（0 字节）"),
    ("empty-csv-file", _empty_file, "empty.csv", L, "文件是空的（0 字节）"),
    ("encrypted", ff.encrypted_xlsx, "secret.xlsx", L, "文件设置了打开密码"),
    ("encrypted-no-ext", ff.encrypted_xlsx, "secret.dat", L, "请在 Excel 中取消密码后再上传"),
    ("excel-too-big", ff.xlsx_titled_merged, "big.xlsx", Limits(max_excel_bytes=1000), "Excel 文件太大"),
    ("csv-too-big", _csv, "big.csv", Limits(max_csv_bytes=20), "CSV 文件太大"),
    ("over-all-limits", _csv, "big.csv", Limits(max_csv_bytes=20, max_excel_bytes=20), "文件太大"),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize(("case", "build", "name", "limits", "words"), CASES, ids=IDS)
def test_guard_rejects(tmp_path: Path, case: str, build: Callable[[Path], Path], name: str,
                       limits: Limits, words: str) -> None:
    p = build(tmp_path / name)
    with pytest.raises(ImportRejected) as ei:
        check_file(p, limits)
    assert words in ei.value.message


@pytest.mark.parametrize(("case", "build", "name", "limits", "words"), CASES, ids=IDS)
def test_child_pipeline_rejects(tmp_path: Path, case: str, build: Callable[[Path], Path], name: str,
                                limits: Limits, words: str) -> None:
    p = build(tmp_path / name)
    with pytest.raises(ImportRejected) as ei:
        prepare(p, ImportOptions(), limits, work_dir=tmp_path / "wd")
    assert words in ei.value.message
    with pytest.raises(ImportRejected) as ei2:
        list_sheets(p, limits)
    assert words in ei2.value.message
    # nothing half-written is left behind
    assert list((tmp_path / "wd").glob("*.arrow")) == []


@pytest.mark.parametrize("name", ["report.xlsx", "report.csv", "report.xls", "report.txt"])
def test_no_connector_accepts_renamed_binary(tmp_path: Path, name: str) -> None:
    p = ff.renamed_binary(tmp_path / name)
    assert connector_for(p) is None


def test_empty_workbook_rejected(tmp_path: Path) -> None:
    p = ff.xlsx_empty(tmp_path / "blank.xlsx")
    assert check_file(p, L) == "xlsx"  # structurally fine …
    infos = list_sheets(p, L)
    assert [(i.name, i.empty) for i in infos] == [("Sheet1", True), ("Sheet2", True)]
    with pytest.raises(ImportRejected, match="所有工作表都是空的"):
        prepare(p, ImportOptions(), L)
    with pytest.raises(ImportRejected, match="所有工作表都是空的"):
        connector_for(p).read(p, None, L)  # type: ignore[union-attr]


def test_empty_csv_rejected(tmp_path: Path) -> None:
    p = ff.csv_text(tmp_path / "blank.csv", "\r\n\r\n")
    with pytest.raises(ImportRejected, match="没有任何数据"):
        prepare(p, ImportOptions(), L)


@pytest.mark.parametrize(
    ("mode", "limits", "words"),
    [
        ("abort", L, CRASH_MSG),  # killed by SIGABRT, as calamine does on a 512 GiB allocation
        ("memory", Limits(reader_memory_bytes=2 * 1024 * MB), CRASH_MSG),  # MemoryError under the cap
        ("sleep", Limits(reader_timeout_s=2.0), "读取文件超时（超过 2 秒）"),
    ],
)
def test_child_crash_becomes_import_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str,
                                             limits: Limits, words: str) -> None:
    p = ff.xlsx_titled_merged(tmp_path / "ok.xlsx")
    monkeypatch.setenv(CRASH_ENV, mode)
    with pytest.raises(ImportRejected) as ei:
        prepare(p, ImportOptions(), limits)
    assert ei.value.message.startswith(words)
    with pytest.raises(ImportRejected):
        list_sheets(p, limits)
    # the parent is alive and the next, normal request works
    monkeypatch.delenv(CRASH_ENV)
    assert [i.name for i in list_sheets(p, limits)] == ["汇总", "空表"]


def test_memory_cap_leaves_room_for_real_reading(tmp_path: Path) -> None:
    """2 GiB of address space is enough for polars + fastexcel (jemalloc reserves a lot)."""
    p = ff.xlsx_mixed(tmp_path / "m.xlsx")
    infos = list_sheets(p, Limits(reader_memory_bytes=2 * 1024 * MB))
    assert [(i.name, i.n_rows, i.n_cols) for i in infos] == [("数据", 13, 3)]


@pytest.mark.parametrize(
    ("build", "name", "refused"),
    [
        (ff.text_as_xlsx, "通知.xlsx", True),  # prose saved as .xlsx: refused, not "1 列，0 行数据"
        (ff.text_as_xlsx, "通知.xls", True),
        (lambda p: ff.csv_text(p, "区,人数\n南湖区,3\n"), "renamed.xlsx", False),  # a real table: content decides
        (ff.text_as_xlsx, "通知.txt", False),  # a .txt is the text reader's own: read as it is
    ],
    ids=["text-xlsx", "text-xls", "csv-table-xlsx", "text-txt"],
)
def test_text_renamed_as_spreadsheet(tmp_path: Path, build: Callable[[Path], Path], name: str, refused: bool) -> None:
    p = build(tmp_path / name)
    if refused:
        with pytest.raises(ImportRejected, match="不是电子表格，而是一段纯文本") as ei:
            prepare(p, ImportOptions(), L)
        assert "扩展名改为 .csv" in ei.value.message
    else:
        prepared = prepare(p, ImportOptions(), L)
        assert prepared.plan.file_kind == "csv"
        prepared.discard()


@pytest.mark.parametrize(
    ("build", "name", "kind"),
    [
        (ff.xlsx_titled_merged, "台账.xls", "xlsx"),  # an .xlsx a system exports under the old name
        (ff.xlsx_titled_merged, "台账.csv", "xlsx"),  # a clerk's rename
        (ff.xls_basic, "台账.xlsx", "xls"),  # the other way round
        (ff.xls_basic, "台账.csv", "xls"),
    ],
    ids=["xlsx-as-xls", "xlsx-as-csv", "xls-as-xlsx", "xls-as-csv"],
)
def test_a_workbook_under_another_extension_imports_like_its_own(
        tmp_path: Path, build: Callable[[Path], Path], name: str, kind: str) -> None:
    """The Excel readers go by extension; the content decides here, so the same workbook under a
    wrong name gives the same plan and rows as under its own (it used to fail as 文件可能已损坏)."""
    right = prepare(build(tmp_path / f"right.{kind}"), ImportOptions(), L)
    wrong = prepare(build(tmp_path / name), ImportOptions(), L)
    try:
        assert wrong.plan.file_kind == right.plan.file_kind == kind
        assert [c.name for c in wrong.plan.columns] == [c.name for c in right.plan.columns]
        assert wrong.frame().equals(right.frame())
        # the readers' second name for the file is gone once the request is answered
        assert [p for p in Path(tempfile.gettempdir()).glob("citybi-*/**/*.book.*")] == []
    finally:
        right.discard()
        wrong.discard()
