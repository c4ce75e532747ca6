"""The bundled sample city data: deterministic, and its messy copies hold the clean rows.

The first-start loader and the messy-vs-clean import check both rely on these files, so
the tests read the generated workbooks with openpyxl directly (not through the importer)
and compare cell values; a last test runs the real importer on both copies.
"""
from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import openpyxl
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_generator() -> ModuleType:
    # datasets/ is data, not an installed package: load the script by path
    spec = importlib.util.spec_from_file_location("citybi_sample_generate", ROOT / "datasets" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


gen = _load_generator()
MESSY_TABLES = [name for name, t in gen.SAMPLE_TABLES.items() if t.messy]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return gen.generate(tmp_path_factory.mktemp("sample_a"))


@pytest.fixture(scope="module")
def sample_again(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return gen.generate(tmp_path_factory.mktemp("sample_b"))


@functools.cache
def _cells(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every sheet's cell values; rows padded to the widest row (read-only mode trims them)."""
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        sheets = {}
        for ws in wb.worksheets:
            rows = list(ws.iter_rows(values_only=True))
            width = max((len(r) for r in rows), default=0)
            sheets[ws.title] = [tuple(r) + (None,) * (width - len(r)) for r in rows]
        return sheets
    finally:
        wb.close()


def _clean_rows(path: Path) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Header and rows of a clean file; Excel has no date type, so midnight → date."""
    rows = next(iter(_cells(path).values()))

    def norm(v: Any) -> Any:
        if isinstance(v, dt.datetime) and v.time() == dt.time(0):
            return v.date()
        return v

    return list(rows[0]), [tuple(norm(v) for v in r) for r in rows[1:]]


_CN_DATE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$")
_TEXT_NUMBER = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")


def _read_messy(path: Path, header: list[str], numeric: set[int], dates: set[int]) -> dict[str, Any]:
    """An independent reading of a messy report: what a careful clerk would copy out by hand."""
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    grid = [list(r) for r in ws.iter_rows(values_only=True)]
    h = next(i for i, r in enumerate(grid) if r[0] == header[0])
    # merged cells in the body carry their value only in the top-left cell
    for rng in ws.merged_cells.ranges:
        if rng.min_row - 1 > h + 1:
            top = grid[rng.min_row - 1][rng.min_col - 1]
            for r in range(rng.min_row - 1, rng.max_row):
                for c in range(rng.min_col - 1, rng.max_col):
                    grid[r][c] = top
    body: list[tuple[Any, ...]] = []
    totals: list[tuple[Any, ...]] = []
    end = h + 2
    for end in range(h + 2, len(grid)):
        row = grid[end]
        if all(v is None for v in row):
            break
        if any(isinstance(v, str) and ("小计" in v or "合计" in v) for v in row):
            totals.append(tuple(row))
            continue
        out: list[Any] = []
        for i, v in enumerate(row):
            if i in numeric and v == "—":
                v = None
            elif i in numeric and isinstance(v, str) and _TEXT_NUMBER.match(v):
                v = float(v.replace(",", "")) if "." in v else int(v.replace(",", ""))
            elif i in dates and isinstance(v, str) and (m := _CN_DATE.match(v)):
                v = dt.date(int(m[1]), int(m[2]), int(m[3]))
            out.append(v)
        body.append(tuple(out))
    return {
        "grid": grid, "header_row": h, "body": body, "totals": totals, "tail": grid[end:],
        "merged": [str(r) for r in ws.merged_cells.ranges],
    }


def _column_kinds(rows: list[tuple[Any, ...]]) -> tuple[set[int], set[int]]:
    ncol = len(rows[0])
    numeric = {i for i in range(ncol) if any(isinstance(r[i], (int, float)) for r in rows)}
    dates = {i for i in range(ncol) if any(isinstance(r[i], dt.date) for r in rows)}
    return numeric, dates


def _expected_messy_rows(table: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    if table == "环卫清运":  # the messy copy is one month's report
        return [r for r in rows if (r[0].year, r[0].month) == (gen.END.year, gen.END.month)]
    return rows


# ------------------------------------------------------------------------------------------


def test_generator_is_deterministic(sample: dict[str, Path], sample_again: dict[str, Path]) -> None:
    assert list(sample) == list(sample_again)
    for stem, path in sample.items():
        other = sample_again[stem]
        if path.suffix == ".xlsx":
            assert _cells(path) == _cells(other), stem
        # the files are also byte-identical, so regenerating does not churn git
        assert path.read_bytes() == other.read_bytes(), stem


@pytest.mark.parametrize(
    ("table", "rows_min", "rows_max", "first_row"),
    [
        ("环卫清运", 40_000, 43_000, (dt.date(2024, 1, 1), "临江区", "滨江街道", "厨余垃圾")),
        ("热线工单", 13_000, 17_000, ("QY202401010001",)),
        ("空气质量", 6_564, 6_564, (dt.date(2024, 1, 1), "江滨公园站", "临江区")),
        ("区县概况", 6, 6, ("临江区", 58.6, 62.4, 356, 1520, 118.7825, 30.9412)),
        ("网格事件", 1_500, 5_000, ("SJ20240101001",)),
    ],
)
def test_clean_files_match_the_declared_tables(
    sample: dict[str, Path], table: str, rows_min: int, rows_max: int, first_row: tuple[Any, ...]
) -> None:
    spec = gen.SAMPLE_TABLES[table]
    header, rows = _clean_rows(sample[Path(spec.clean).stem])
    assert header == [c.name for c in spec.columns]
    assert rows_min <= len(rows) <= rows_max
    assert rows[0][: len(first_row)] == first_row
    assert rows[-1][0] is not None


def test_sample_values_are_realistic(sample: dict[str, Path]) -> None:
    _, hot = _clean_rows(sample["热线工单"])
    assert all(re.match(r"^[A-Z]{2}\d{12}$", r[0]) for r in hot)
    unfinished = [r for r in hot if r[6] != "已办结"]
    assert unfinished and all(r[7] is None and r[8] is None for r in unfinished)
    assert sum("\n" in r[9] for r in hot) > len(hot) // 10  # free text with line breaks
    assert all(isinstance(r[1], dt.datetime) for r in hot)

    _, air = _clean_rows(sample["空气质量"])
    good = [r for r in air if r[3] <= 50]
    assert good and all(r[6] == "—" and r[7] == "优" for r in good)
    assert {r[6] for r in air if r[3] > 50} <= {"PM2.5", "PM10", "O3"}
    assert any(r[5] is None for r in air)  # maintenance days

    _, grid = _clean_rows(sample["网格事件"])
    assert all(118.4 < r[7] < 119.1 and 30.7 < r[8] < 31.2 for r in grid)


def test_sample_directory_stays_small(sample: dict[str, Path]) -> None:
    assert sum(p.stat().st_size for p in sample.values()) < 4 * 1024 * 1024


@pytest.mark.parametrize(
    ("table", "unit_line", "subtotals", "total_label", "total_first", "merged_blocks", "min_dashes",
     "min_text_numbers"),
    [
        # the district cell merged over each block of its rows, 小计 after each block
        ("环卫清运", "单位：吨", 6, "合计", False, 6, 5, 6),
        ("空气质量", "浓度单位：微克/立方米", 6, "合计", False, 0, 20, 0),
        # yearbook style: 全市合计 right under the header
        ("区县概况", "单位：见表头", 0, "全市合计", True, 0, 0, 5),
    ],
)
def test_messy_copy_has_the_shape_of_a_department_report(
    sample: dict[str, Path], table: str, unit_line: str, subtotals: int, total_label: str,
    total_first: bool, merged_blocks: int, min_dashes: int, min_text_numbers: int,
) -> None:
    spec = gen.SAMPLE_TABLES[table]
    header, rows = _clean_rows(sample[Path(spec.clean).stem])
    numeric, dates = _column_kinds(rows)
    messy = _read_messy(sample[Path(spec.messy).stem], header, numeric, dates)
    grid, h, ncol = messy["grid"], messy["header_row"], len(header)
    last_col = openpyxl.utils.get_column_letter(ncol)

    assert grid[0][0].startswith("清源市") and f"A1:{last_col}1" in messy["merged"]
    assert grid[1][0].startswith("填报单位：") and grid[1][-1] == unit_line
    assert h == 2 and grid[h + 1][0] is None  # two-level header, vertically merged first column
    assert f"A{h + 1}:A{h + 2}" in messy["merged"]
    group_labels = [v for i, v in enumerate(grid[h]) if v is not None and v != header[i]]
    assert group_labels  # a label over the numeric columns
    assert sum(any(isinstance(v, str) and v.endswith("小计") for v in r) for r in messy["totals"]) == subtotals
    assert any(r[0] == total_label for r in messy["totals"])
    assert (grid[h + 2][0] == total_label) is total_first
    body_merges = [m for m in messy["merged"] if int(re.findall(r"\d+", m)[0]) > h + 2]
    assert len(body_merges) == merged_blocks
    tail = [v for r in messy["tail"] for v in r if isinstance(v, str)]
    assert any(v.startswith("填报人：") for v in tail) and any(v.startswith("审核人：") for v in tail)
    assert any(v.startswith("填报日期：") and _CN_DATE.match(v.split("：")[1]) for v in tail)

    body_cells = [(i, v) for r in grid[h + 2:] for i, v in enumerate(r)]
    assert sum(1 for i, v in body_cells if i in numeric and v == "—") >= min_dashes
    assert sum(1 for _, v in body_cells if isinstance(v, str) and _TEXT_NUMBER.match(v)) >= min_text_numbers
    for i in dates:  # every detail row's date typed the way a clerk writes it
        typed = [r[i] for r in grid[h + 2:] if isinstance(r[i], str) and _CN_DATE.match(r[i])]
        assert len(typed) == len(messy["body"])


@pytest.mark.parametrize("table", MESSY_TABLES)
def test_messy_copy_holds_exactly_the_clean_detail_rows(sample: dict[str, Path], table: str) -> None:
    spec = gen.SAMPLE_TABLES[table]
    header, rows = _clean_rows(sample[Path(spec.clean).stem])
    numeric, dates = _column_kinds(rows)
    messy = _read_messy(sample[Path(spec.messy).stem], header, numeric, dates)
    expected = _expected_messy_rows(table, rows)
    assert len(messy["body"]) == len(expected)
    assert Counter(messy["body"]) == Counter(expected)


def test_gbk_csv_has_an_nbs_preamble_and_the_hotline_counts(sample: dict[str, Path]) -> None:
    raw = sample["热线工单_月度_GBK"].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    lines = raw.decode("gbk").split("\r\n")
    assert [line.split("：")[0] for line in lines[:3]] == ["数据库", "指标", "时间"]
    assert lines[-3].startswith("注：") and lines[-2].startswith("数据来源：") and lines[-1] == ""
    header = lines[3].split(",")
    assert header[0] == "区" and header[1] == "2025年6月" and header[-1] == "2024年1月" and len(header) == 19

    _, hot = _clean_rows(sample["热线工单"])
    counts = Counter((r[2], f"{r[1].year}年{r[1].month}月") for r in hot)
    body = [line.split(",") for line in lines[4:-3]]
    assert [r[0] for r in body] == list(gen.DISTRICTS)
    for r in body:
        assert [int(v) for v in r[1:]] == [counts[(r[0], month)] for month in header[1:]]


def test_wide_table_sums_the_clean_sanitation_rows(sample: dict[str, Path]) -> None:
    header, wide = _clean_rows(sample["环卫清运_月度宽表"])
    assert header[0] == "区" and header[1] == "2024年1月" and header[-1] == "2025年6月"
    _, rows = _clean_rows(sample["环卫清运"])
    sums: Counter[tuple[str, str]] = Counter()
    for r in rows:
        sums[(r[1], f"{r[0].year}年{r[0].month}月")] += r[4]
    for r in wide:
        assert list(r[1:]) == pytest.approx([sums[(r[0], m)] for m in header[1:]], abs=0.01)


# ------------------------------------------------------------------------------------------
# The real importer on both copies (skipped until the importer pipeline exists).


def _importer_available() -> bool:
    # find_spec, not import: a pipeline that exists but fails to import must fail the test
    return all(importlib.util.find_spec(m) is not None for m in ("citybi.importer", "citybi.ingest.pipeline"))


def _ingest(path: Path, db: Path, table: str) -> list[tuple[Any, ...]]:
    proc = subprocess.run(
        [sys.executable, "-m", "citybi", "ingest", str(path), "--db", str(db), "--table", table, "--json"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:] + proc.stdout[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["status"] == "ok"
    import duckdb
    from sqlglot import exp

    con = duckdb.connect(str(db), read_only=True)
    try:
        query = exp.select("*").from_(exp.to_table(table, quoted=True)).sql(dialect="duckdb")
        return con.execute(query).fetchall()
    finally:
        con.close()


def _norm_imported(row: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for v in row:
        if isinstance(v, dt.datetime) and v.time() == dt.time(0):
            v = v.date()
        elif isinstance(v, float) and v.is_integer():
            v = int(v)
        elif isinstance(v, float):
            v = round(v, 6)
        out.append(v)
    return tuple(out)


@pytest.mark.skipif(not _importer_available(), reason="导入器（citybi.importer / citybi.ingest.pipeline）尚未就绪")
@pytest.mark.parametrize("table", MESSY_TABLES)
def test_importing_the_messy_copy_gives_the_clean_rows(
    sample: dict[str, Path], tmp_path: Path, table: str
) -> None:
    spec = gen.SAMPLE_TABLES[table]
    db = tmp_path / "w.duckdb"
    clean = [_norm_imported(r) for r in _ingest(sample[Path(spec.clean).stem], db, "clean_copy")]
    messy = [_norm_imported(r) for r in _ingest(sample[Path(spec.messy).stem], db, "messy_copy")]
    if table == "环卫清运":
        clean = [r for r in clean if (r[0].year, r[0].month) == (gen.END.year, gen.END.month)]
    assert len(messy) == len(clean)
    assert Counter(messy) == Counter(clean)
