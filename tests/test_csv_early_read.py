"""The early body read of a big CSV (CsvConnector.early_top / prefetch_body): same result, or none.

A one-shot `citybi ingest` tells its reader the file at start (worker.early_hint); for a CSV over
1 MB (connectors.csv._EARLY_MIN_BYTES) the reader parses the first rows, finds the header and
starts polars' body read on a thread while it loads the shaping code. These tests lower the
threshold to 0 where the file is small and call the reader's own functions in this process:
file → the plan and frame must equal those of the plain read, the early read must be the one
used, and an early read that turns out unusable (another first row, a row wider than the table)
or orphaned (a refused request) is waited for and dropped, never used.
"""
from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import filefactory as ff
from reader_calls import hint as _hint
from reader_calls import read as _read
from reader_calls import refuse_sheet, threads_named

import connectors.csv as csv_mod
from citybi.config import Limits
from citybi.ingest import worker
from citybi.ingest.model import ImportOptions

ROOT = Path(__file__).resolve().parents[1]


Reads = list[tuple[int | None, bool]]


@pytest.fixture
def body_reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    """Every polars body read, as (byte offset it starts at, read early on its own thread)."""
    seen: Reads = []
    real = csv_mod._read_body

    def spy(p: Any, boff: int | None, n: int) -> pl.DataFrame:
        seen.append((boff, threading.current_thread().name == "citybi-csv-body"))
        return real(p, boff, n)

    monkeypatch.setattr(csv_mod, "_read_body", spy)
    return seen


_ROW = "南湖区,清运作业,3.5,备注文字\n"
_MANY = _ROW * 40_000  # ~1.3 MB: over the 1 MB the reader starts early without the test's help


def _text(text: str, encoding: str = "utf-8") -> Callable[[Path], Path]:
    return lambda p: ff.csv_text(p, text, encoding)


FILES: list[tuple[str, Callable[[Path], Path], int]] = [
    # (case, file, body reads when hinted: 1 = the early one used; 2 = dropped and read again)
    ("utf8-1mb", _text("区,类别,吨,备注\n" + _MANY), 1),
    ("titled-1mb", _text("环卫清运台账\n单位：吨\n区,类别,吨,备注\n" + _MANY + "合计,,99,\n填报人：张三\n"), 1),
    ("bom", _text("\ufeff区,类别,吨,备注\n" + _ROW * 50), 1),
    ("gbk-1mb", _text("区,类别,吨,备注\n" + _MANY, "gbk"), 1),
    ("gbk-nbs-export", ff.csv_gbk_nbs, 1),
    ("tab-separated", _text("区\t吨\n" + "南湖区\t3.5\n" * 300), 1),
    ("header-only", _text("区,类别,吨,备注\n\n\n"), 1),
    # a wider row in the tail widens the table when the file is parsed: the early read has its width
    ("wider-tail", _text("区,类别,吨,备注\n" + _MANY + "多,出,两,列,a,b\n" + _ROW * 10), 1),
    # one in the middle: polars refuses the early read (and the request's), the csv module widens
    ("wider-middle", _text("区,类别,吨,备注\n" + _MANY + "多,出,两,列,a,b\n" + _MANY), 2),
]


@pytest.mark.parametrize(("case", "build", "reads"), FILES, ids=[f[0] for f in FILES])
def test_early_read_gives_the_plain_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str,
                                           build: Callable[[Path], Path], reads: int, body_reads: Reads) -> None:
    path = build(tmp_path / f"{case}.csv")
    monkeypatch.setattr(csv_mod, "_EARLY_MIN_BYTES", 1 << 40)  # the plain read: nothing early
    plain_plan, plain = _read(path, tmp_path, "plain")
    assert [early for _, early in body_reads] == [False]
    plain_reads = list(body_reads)
    body_reads.clear()

    monkeypatch.setattr(csv_mod, "_EARLY_MIN_BYTES", 0)
    assert worker._start_from_hint(_hint(path)) is None  # what the reader does first when told the file
    early_plan, early = _read(path, tmp_path, "early")
    assert early.equals(plain)
    assert early_plan == plain_plan
    assert body_reads[0] == (plain_reads[0][0], True)  # the same body, read on the early thread
    assert len(body_reads) == reads and not any(e for _, e in body_reads[1:])
    assert not csv_mod._BODY_PREFETCH


def test_small_files_are_not_read_early(tmp_path: Path) -> None:
    path = ff.csv_gbk_nbs(tmp_path / "small.csv")
    assert csv_mod.CsvConnector().early_top(path, None, Limits()) is None


def test_a_hint_for_another_header_row_is_dropped_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          body_reads: Reads) -> None:
    path = ff.csv_text(tmp_path / "t.csv", "环卫清运台账\n区,类别,吨,备注\n" + _ROW * 200)
    _, plain = _read(path, tmp_path, "plain")
    monkeypatch.setattr(csv_mod, "_EARLY_MIN_BYTES", 0)
    worker._start_from_hint(_hint(path, ImportOptions(header_row=3)))  # as if the command said another row
    _, again = _read(path, tmp_path, "again")
    assert again.equals(plain)
    (first, _), (hinted, hinted_early), (used, used_early) = body_reads
    assert hinted_early and not used_early and hinted != used == first  # waited for, dropped, read again
    assert not csv_mod._BODY_PREFETCH


def test_a_refused_request_leaves_no_read_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = ff.csv_text(tmp_path / "t.csv", "区,类别,吨,备注\n" + _ROW * 200)
    monkeypatch.setattr(csv_mod, "_EARLY_MIN_BYTES", 0)
    worker._start_from_hint(_hint(path))  # started, then the request is refused
    assert csv_mod._BODY_PREFETCH
    refuse_sheet(path, tmp_path, "汇总")
    assert not csv_mod._BODY_PREFETCH and not threads_named("citybi-csv-body")


def test_a_wider_row_far_down_gets_its_own_columns(tmp_path: Path) -> None:
    """A row wider than the first rows, past them and past the tail the parse looks at: the body's
    read widens the sheet, and the plan names the new columns (it crashed as "文件可能已损坏")."""
    path = ff.csv_text(tmp_path / "w.csv", "区,类别,吨,备注\n" + _MANY + "多,出,两,列,a,b\n" + _MANY)
    plan, frame = _read(path, tmp_path, "w")
    assert frame.columns == ["区", "类别", "吨", "备注", "列5", "列6"]
    assert frame.height == 80_001 and frame["列6"].drop_nulls().to_list() == ["b"]
    assert plan["header_rows"] == [1]
    assert any("第 5、6 列没有表头" in w for w in plan["warnings"])


def test_a_changed_file_is_not_read_from_the_early_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file rewritten between the hint and the request: the request reads the new one."""
    path = ff.csv_text(tmp_path / "t.csv", "区,吨\n" + "南湖区,1\n" * 300)
    monkeypatch.setattr(csv_mod, "_EARLY_MIN_BYTES", 0)
    worker._start_from_hint(_hint(path))
    ff.csv_text(path, "区,吨\n" + "秀洲区,2\n" * 500)
    _, frame = _read(path, tmp_path, "new")
    assert frame.height == 500 and frame["区"].unique().to_list() == ["秀洲区"]
    assert not csv_mod._BODY_PREFETCH


def test_the_command_imports_a_big_csv_through_the_early_read(tmp_path: Path) -> None:
    """`citybi ingest` on a 1.3 MB CSV (hinted, read early in its reader): every row and value lands."""
    path = ff.csv_text(tmp_path / "big.csv", "区,类别,吨,备注\n" + _MANY + "秀洲区,其他,1.25,完\n")
    db = tmp_path / "w.duckdb"
    done = subprocess.run([sys.executable, "-m", "citybi", "ingest", str(path), "--db", str(db), "--table", "qy"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows, tons, last = con.execute('SELECT count(*), sum("吨"), max("备注") FROM main.qy').fetchone()  # type: ignore[misc]
    finally:
        con.close()
    assert (rows, round(tons, 2), last) == (40_001, round(40_000 * 3.5 + 1.25, 2), "完")
