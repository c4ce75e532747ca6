"""数据质量: a file → its quality report (counts, Excel rows, score parts), kept with the version.

Files are built in code (tests/filefactory.py). The score is 100 × the weighted mean of the
measured parts (citybi/quality.py: validity 40, completeness 20, conformity 15, uniqueness 15,
standardisation 10; a part that cannot be measured is left out) — each expected score below is
worked out from its parts in the comment next to it.
"""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlglot import exp

sys.path.insert(0, str(Path(__file__).parent))

import filefactory as ff

from citybi import quality
from citybi.catalog import QUALITY_DATASET, Catalog, Provenance, S, open_warehouse
from citybi.context import Context, Scope, use
from citybi.dictionaries import Entry, ValueDictionary
from citybi.errors import UserFacingError
from citybi.importer import ingest_file
from citybi.ingest.model import ColumnOverride, ImportOptions
from citybi.quality import WEIGHTS, Component, QualityReport, dataset_quality, score_of
from citybi.validation import Range, Rules
from citybi.warehouse import Warehouse

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).with_name("citybi")
D = dt.date(2024, 6, 1)
# 日期 | 区 | 清运量: sheet rows 2–6 (row 1 is the header); row 4 has no 清运量, rows 3 and 5 are above 15
RULED = [["日期", "区", "清运量"], [D, "南湖区", 10], [D, "秀洲区", 20], [D, "南湖区", None], [D, "南湖区", 30],
         [D, "秀洲区", 12]]
RULES = Rules(ranges={"清运量": Range(max=15)}, not_null=["清运量"])
# 19 counts and one 未报 in a column the clerk typed 整数: the cell cannot be read and becomes empty
UNREAD = [["站点", "数量"], *[[f"站{i}", i] for i in range(19)], ["站99", "未报"]]
# 南湖 twice (standardised to 南湖区 with --standardize auto), 南湖区 once, 火星区 not in the dictionary
SPELLED = [["区", "数量"], ["南湖", 1], ["南湖", 2], ["南湖区", 3], ["火星区", 4]]
DICTIONARY = ValueDictionary(name="行政区划", entries=[Entry(standard="南湖区", level="区"),
                                                    Entry(standard="秀洲区", level="区")])


@pytest.fixture()
def wh(tmp_path: Path) -> Warehouse:
    return open_warehouse(path=tmp_path / "w.duckdb")


def _titled(tmp: Path) -> Path:
    return ff.xlsx_titled_merged(tmp / "清运.xlsx")


def _sheet(rows: list[list[Any]]) -> Callable[[Path], Path]:
    return lambda tmp: ff.xlsx_sheets(tmp / "f.xlsx", {"表": rows})


def _import(wh: Warehouse, tmp: Path, case: str) -> QualityReport:
    """The report of the case's import (after any set-up import the case needs)."""
    cat = Catalog(wh)
    if case == "totals":
        return _q(ingest_file(wh, _titled(tmp), table="t"))
    if case == "appended-again":
        ingest_file(wh, _titled(tmp), table="t")
        return _q(ingest_file(wh, _titled(tmp), table="t", mode="append"))
    if case == "rules":
        path = _sheet(RULED)(tmp)
        ingest_file(wh, path, table="t")
        cat.set_rules("t", RULES)
        return _q(ingest_file(wh, path, table="t", mode="replace"))
    if case == "unreadable":
        options = ImportOptions(columns={1: ColumnOverride(type="integer")})
        return _q(ingest_file(wh, _sheet(UNREAD)(tmp), table="t", options=options))
    if case == "standardised":
        cat.save_dictionary(DICTIONARY)
        return _q(ingest_file(wh, _sheet(SPELLED)(tmp), table="t", standardize="auto"))
    raise AssertionError(case)


def _q(result: Any) -> QualityReport:
    assert result.quality is not None
    return result.quality


CASES: list[tuple[str, dict[str, Any], dict[str, float | None], int]] = [
    # (case, counts, parts, score)
    ("totals",  # title, 2-row merged header, 3 rows, 合计, a blank row, a 注： footer
     {"rows_read": 6, "rows_kept": 3, "rows_dropped": 3,
      "dropped_by_reason": {"小计/合计行": 1, "空行": 1, "表尾（注/数据来源/填报人等）": 1},
      "rows_breaking_rules": 0, "duplicate_rows": 0},
     {"validity": None, "completeness": 1.0, "conformity": 1.0, "uniqueness": 1.0, "standard": None},
     100),  # dropped rows are the layout, not bad data
    ("appended-again",  # the same file appended to the dataset it made: every row is there already
     {"rows_kept": 3, "duplicate_rows": 3, "duplicates": {"in_file": 0, "in_file_keys": 0, "in_dataset": 3}},
     {"validity": None, "completeness": 1.0, "conformity": 1.0, "uniqueness": 0.0, "standard": None},
     70),  # (20 + 15 + 0) / 50
    ("rules",
     {"rows_read": 5, "rows_kept": 5, "rows_dropped": 0, "rows_breaking_rules": 3, "empty_cells": 1, "cells": 15},
     {"validity": 0.4, "completeness": 14 / 15, "conformity": 1.0, "uniqueness": 1.0, "standard": None},
     72),  # (40·0.4 + 20·14/15 + 15 + 15) / 90 = 0.7185
    ("unreadable",
     {"rows_kept": 20, "unconverted_cells": 1, "empty_cells": 1, "cells": 40},
     {"validity": None, "completeness": 39 / 40, "conformity": 39 / 40, "uniqueness": 1.0, "standard": None},
     98),  # (20·0.975 + 15·0.975 + 15) / 50 = 0.9825
    ("standardised",
     {"values_standardised": 2, "unknown_values": 1},
     {"validity": None, "completeness": 1.0, "conformity": 1.0, "uniqueness": 1.0, "standard": 0.75},
     96),  # (20 + 15 + 15 + 10·0.75) / 60 = 0.9583
]


@pytest.mark.parametrize(("case", "counts", "parts", "score"), CASES, ids=[c[0] for c in CASES])
def test_a_file_gives_its_counts_parts_and_score(wh: Warehouse, tmp_path: Path, case: str, counts: dict[str, Any],
                                                 parts: dict[str, float | None], score: int) -> None:
    report = _import(wh, tmp_path, case)
    assert {k: getattr(report, k) for k in counts} == counts
    got = {c.key: c.value for c in report.components}
    assert got == pytest.approx(parts)
    assert report.score == score
    # and the same report is the dataset's current quality, read back from the catalog
    stored = dataset_quality(wh, "t")
    assert stored.stored and stored.report == report


def test_rule_failures_name_their_excel_rows_and_rows(wh: Warehouse, tmp_path: Path) -> None:
    report = _import(wh, tmp_path, "rules")
    by_rule = {f.rule: [(s.excel_row, s.value, s.row) for s in f.samples] for f in report.rule_failures}
    assert by_rule == {
        "不能为空": [(4, "空", "2024-06-01，南湖区，")],
        "清运量 应不大于 15": [(3, "20", "2024-06-01，秀洲区，20"), (5, "30", "2024-06-01，南湖区，30")],
    }


def test_dropped_rows_keep_their_excel_rows(wh: Warehouse, tmp_path: Path) -> None:
    report = _import(wh, tmp_path, "totals")
    assert [(s.excel_row, s.reason) for s in report.dropped_samples] == [
        (7, "小计/合计行"), (8, "空行"), (9, "表尾（注/数据来源/填报人等）")]


@pytest.mark.parametrize(("values", "expected"), [
    ({}, 100),  # nothing measurable: nothing found wrong
    ({"validity": 1.0, "completeness": 1.0, "conformity": 1.0, "uniqueness": 1.0, "standard": 1.0}, 100),
    ({"validity": 0.0, "completeness": 1.0, "conformity": 1.0, "uniqueness": 1.0, "standard": 1.0}, 60),
    ({"validity": 1.0, "completeness": 0.0, "conformity": 1.0, "uniqueness": 1.0, "standard": 1.0}, 80),
    ({"validity": 1.0, "completeness": 1.0, "conformity": 1.0, "uniqueness": 1.0, "standard": 0.0}, 90),
    ({"completeness": 0.5}, 50),  # the only part measured decides alone
    ({"completeness": 1.0, "uniqueness": 0.0}, 57),  # 20 / 35
], ids=["none", "perfect", "no-valid-row", "all-empty", "no-standard-value", "one-part", "two-parts"])
def test_score_weights(values: dict[str, float], expected: int) -> None:
    parts = [Component(key=k, label=label, weight=w, value=values.get(k)) for k, (label, w) in WEIGHTS.items()]
    assert sum(w for _label, w in WEIGHTS.values()) == 100
    assert score_of(parts) == expected


def _reports(wh: Warehouse) -> int:
    return int(wh.fetchall(f"SELECT count(*) FROM {S}.quality_reports")[0][0])


def test_a_failed_write_leaves_no_report(wh: Warehouse) -> None:
    cat = Catalog(wh)
    body = QualityReport(rows_read=1, rows_kept=1, score=90).model_dump_json()
    frame = pl.DataFrame({"区": ["南湖区"], "数量": [1]})

    def fail(_cur: Any) -> None:
        raise RuntimeError("disk gone")  # after the version and its report were written

    with pytest.raises(RuntimeError):
        cat.write("t", frame, provenance=Provenance(quality_json=body), also=fail)
    assert not cat.exists("t") and _reports(wh) == 0
    cat.write("t", frame, provenance=Provenance(quality_json=body))
    assert _reports(wh) == 1 and cat.quality_scores() == {"t": 90}
    cat.delete("t")  # ids are reused: a deleted dataset's history goes with it
    assert _reports(wh) == 0


def test_a_version_without_a_report_is_measured_on_its_rows(wh: Warehouse) -> None:
    cat = Catalog(wh)
    cat.write("旧表", pl.DataFrame({"区": ["南湖区", "南湖区", None], "数量": [1, 1, 99]}))
    cat.set_rules("旧表", Rules(ranges={"数量": Range(max=10)}))
    q = dataset_quality(wh, "旧表")
    assert not q.stored and q.report is not None and q.report.basis == "table"
    assert "无质量报告" in q.note
    r = q.report
    assert (r.rows_kept, r.rows_breaking_rules, r.empty_cells, r.duplicates["in_file"]) == (3, 1, 1, 1)
    assert [s.excel_row for f in r.rule_failures for s in f.samples] == [None]  # no sheet to point into


def _count(wh: Warehouse) -> int:
    tree = exp.select(exp.Count(this=exp.Star())).from_(exp.to_table(QUALITY_DATASET, quoted=True))
    return int(wh.run(tree).frame.item())


@pytest.mark.parametrize(("ctx", "refused"), [
    (Context("a", "admin"), None),
    (Context("b", "analyst"), None),  # reads every dataset anyway
    (Context("c", "clerk", Scope("城管局")), "未设置部门"),  # would see other departments' datasets
    (Context("d", "analyst", Scope(None, frozenset({"临江区"}))), "区"),  # district-limited
], ids=["admin", "analyst", "clerk", "district-limited"])
def test_the_quality_history_is_a_dataset_only_full_readers_read(wh: Warehouse, ctx: Context,
                                                                 refused: str | None) -> None:
    cat = Catalog(wh)
    assert cat.ensure_quality_dataset() and not cat.ensure_quality_dataset()
    before = cat.current_versions()[QUALITY_DATASET.lower()]
    kept = Provenance(quality_json=QualityReport(rows_read=1, rows_kept=1, score=80).model_dump_json())
    cat.write("t", pl.DataFrame({"区": ["临江区"]}), provenance=kept)  # as an import writes it
    cat.write("t", pl.DataFrame({"区": ["云湖区"]}), mode="replace", provenance=kept)
    # every kept report moves its version on: cached board results are read again
    assert cat.current_versions()[QUALITY_DATASET.lower()] == before + 2
    assert cat.get(QUALITY_DATASET).row_count == 2
    with use(ctx):
        if refused is None:
            assert _count(wh) == 2
        else:
            with pytest.raises(UserFacingError) as err:
                _count(wh)
            assert refused in str(err.value)
    with pytest.raises(UserFacingError, match="系统数据集"):
        cat.write(QUALITY_DATASET, pl.DataFrame({"x": [1]}), mode="replace")


def test_the_quality_board_runs_on_the_samples(sample_copy: Callable[[str], Path]) -> None:
    from citybi.boards import load_board, run_board
    from citybi.charts.cache import ResultCache
    from citybi.charts.store import ChartStore
    from citybi.config import QUERIES_DIR

    with open_warehouse(path=sample_copy("quality")) as w:
        board = load_board((QUERIES_DIR / "boards" / "数据质量.yaml").read_bytes())
        charts = ChartStore(Path("/nonexistent"), [QUERIES_DIR / "charts"])
        run = run_board(w, board, charts=charts, today=dt.date.today(), cache=ResultCache())
        assert [t.error for t in run.tiles] == [None, None, None]
        assert all(t.result is not None and t.result.frame.height > 0 for t in run.tiles)
        departments = set(run.tiles[0].result.frame["部门"].to_list())  # type: ignore[union-attr]
        assert {"城管局", "政务服务中心", "生态环境局", "统计局"} <= departments


def test_cli_ingest_json_and_datasets_quality(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    path = _titled(tmp_path)

    def run(*args: str) -> str:
        out = subprocess.run([str(CLI), *args, "--db", str(db)], capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr
        return out.stdout

    outcome = json.loads(run("ingest", str(path), "--table", "清运", "--json").strip().splitlines()[-1])
    assert (outcome["quality"]["rows_dropped"], outcome["quality"]["score"]) == (3, 100)
    shown = json.loads(run("datasets", "quality", "清运", "--json"))
    assert shown["stored"] and shown["report"] == outcome["quality"]
    text = run("datasets", "quality", "清运")
    assert "质量得分 100" in text and "去除：第 7 行（小计/合计行）" in text
    assert "已建立系统数据集「数据质量」" in run("datasets", "quality", "--board")


def test_pages_show_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    db = tmp_path / "app.duckdb"
    monkeypatch.setenv("CITYBI_DB", str(db))
    with open_warehouse(path=db) as w:
        ingest_file(w, _sheet(RULED)(tmp_path), table="清运")
        Catalog(w).set_rules("清运", RULES)
    at = AppTest.from_file(str(ROOT / "pages/import_data.py"), default_timeout=60).run()
    csv = "日期,区,清运量\n2024-06-03,南湖区,520\n2024-06-04,秀洲区,5\n".encode()
    at.file_uploader[0].upload("6月.csv", csv, "text/csv").run()
    at.text_input[0].input("清运").run()
    at.radio[0].set_value("append").run()
    assert not at.exception, at.exception
    shown = [m.value for m in at.markdown if "导入质量" in m.value]
    assert shown and "违反校验规则 1 行" in shown[0], [m.value for m in at.markdown]
    rows = next(f.value for f in at.dataframe if "Excel行号" in f.value.columns)
    assert rows["Excel行号"].to_list() == ["第 2 行"] and rows["值"].to_list() == ["520"]

    at = AppTest.from_file(str(ROOT / "pages/datasets.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    # RULED as first written (no rules yet): (20·14/15 + 15 + 15) / 50 = 0.973
    assert at.dataframe[0].value["质量得分"].to_list() == ["97"]
    parts = next(f.value for f in at.dataframe if "权重" in f.value.columns)
    assert parts["项目"].to_list() == [label for label, _w in WEIGHTS.values()]


@pytest.mark.parametrize(("ctx", "sees"), [
    (Context("a", "admin"), "rows"),
    (Context("c", "clerk", Scope("城管局")), "rows"),  # their own department's dataset, every row
    (Context("d", "analyst", Scope(None, frozenset({"临江区"}))), "counts"),  # a sample row may be another 区's
    (Context("e", "clerk", Scope("环保局")), "nothing"),  # may not read the dataset at all
], ids=["admin", "own-clerk", "district-limited", "other-clerk"])
def test_a_dataset_report_shows_rows_only_to_who_reads_them_all(wh: Warehouse, ctx: Context, sees: str) -> None:
    from citybi.quality import RuleIssue, SampleRow

    cat = Catalog(wh)
    report = QualityReport(rows_read=2, rows_kept=2, score=60, rules_checked=True, rows_breaking_rules=1,
                           rule_failures=[RuleIssue(rule="数量 应不大于 10", column="数量", rows=1, samples=[
                               SampleRow(excel_row=3, value="99", row="北港区，99")])])
    cat.write("t", pl.DataFrame({"区": ["临江区", "北港区"], "数量": [1, 99]}),
              provenance=Provenance(quality_json=report.model_dump_json()))
    cat.set_governance("t", replace(cat.governance("t"), department="城管局"))
    with use(ctx):
        q = dataset_quality(wh, "t")
    if sees == "nothing":
        assert q.report is None and "没有权限" in q.note
        return
    assert q.report is not None and (q.report.score, q.report.rows_breaking_rules) == (60, 1)
    assert [len(f.samples) for f in q.report.rule_failures] == ([1] if sees == "rows" else [0])
    assert ("示例行已隐藏" in q.note) == (sees == "counts")


def test_a_source_batch_keeps_a_report_too(wh: Warehouse) -> None:
    from citybi.sources import _write
    from connectors.source import Fetched, Quarantined

    cat = Catalog(wh)
    cat.write("读数", pl.DataFrame({"id": [0], "AQI": [40]}))
    cat.set_rules("读数", Rules(ranges={"AQI": Range(max=500)}))
    batch = Fetched(described="mqtt://127.0.0.1/air", frame=pl.DataFrame({"id": [1, 1, 2], "AQI": [30, 35, 600]}),
                    quarantine=[Quarantined(payload=b"{oops", reason="不是 JSON")])
    _write(wh, cat, batch, table="读数", mode="append", key_columns=["id"], who="test")
    q = dataset_quality(wh, "读数")
    r = q.report
    assert q.stored and r is not None and r.basis == "source"
    assert (r.rows_read, r.rows_kept, r.rows_dropped, r.rows_breaking_rules) == (4, 2, 2, 1)
    assert r.dropped_by_reason == {"无法解析（已隔离）": 1, "主键重复（保留最后一行）": 1}
    assert [s.excel_row for f in r.rule_failures for s in f.samples] == [None]  # a source has no sheet rows


@pytest.mark.parametrize(("rows", "repeated"), [
    ({"a": [1, 2, 3]}, [False, False, False]),
    ({"a": [1, 2, 1, 1]}, [False, False, True, True]),
    ({"a": [1, 1, 1], "b": ["x", "y", "x"]}, [False, False, True]),
    ({"a": [None, None, 2], "b": [None, None, None]}, [False, True, False]),  # nulls equal nulls
    ({"a": [1, None], "b": [None, 1]}, [False, False]),  # same values, other columns
    ({"区": ["临江区", "临江区", "北港区"], "量": [1.5, 1.5, 1.5]}, [False, True, False]),
    ({"a": []}, []),
])
def test_repeated_rows_marks_every_later_copy(rows: dict[str, list[Any]], repeated: list[bool]) -> None:
    frame = pl.DataFrame(rows)
    assert quality.repeated_rows(frame).to_list() == repeated
    # the same answer as comparing whole rows, which the hash only narrows down
    assert quality.repeated_rows(frame).to_list() == (
        frame.select(~pl.struct(pl.all()).is_first_distinct()).to_series().to_list() if frame.height else [])


@pytest.mark.parametrize(("rows", "copies"), [
    (200_000, 0),  # every row distinct: settled by the row hashes alone
    (100_000, 300),  # a few repeats: confirmed among the rows whose hash repeats
    (50_000, 20_000),  # many repeats: every row compared
])
def test_repeated_rows_is_exact_on_a_big_frame(rows: int, copies: int) -> None:
    base = pl.DataFrame({"k": list(range(rows)), "区": [["临江区", "北港区", None][i % 3] for i in range(rows)]})
    frame = pl.concat([base, base.slice(rows // 2, copies)]) if copies else base
    expected = frame.select(~pl.struct(pl.all()).is_first_distinct()).to_series()
    got = quality.repeated_rows(frame)
    assert got.to_list() == expected.to_list()
    assert int(got.sum()) == copies == frame.height - frame.unique().height
