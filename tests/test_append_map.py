"""The monthly append as a clerk does it (issue 13 item 7): next month's messy department report
onto its existing dataset — offered, columns mapped (by name, synonym, code, unit and type),
remembered in the recipe, and refused with a Chinese message rather than written mismatched.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import filefactory as ff
from test_ingest import shape

from citybi.catalog import Catalog, open_warehouse
from citybi.errors import UserFacingError
from citybi.importer import (
    append_options,
    chosen_from_rows,
    column_map_rows,
    commit,
    ingest_file,
    prepare_file,
)
from citybi.ingest.mapping import match_dataset, offers
from citybi.schema import ColumnInfo, DatasetInfo

TYPES = {"text": "VARCHAR", "integer": "BIGINT", "number": "DOUBLE", "date": "DATE"}


def dataset(name: str, *cols: tuple[str, str, str | None] | tuple[str, str, str | None, tuple[str, ...]]
            ) -> DatasetInfo:
    return DatasetInfo(name=name, display_name=name, description="", row_count=0, version=1, columns=tuple(
        ColumnInfo(name=c[0], type=c[1], duckdb_type=TYPES[c[1]], unit=c[2], synonyms=c[3] if len(c) > 3 else ())
        for c in cols))


清运 = dataset("清运", ("区", "text", None), ("街道", "text", None), ("清运量（吨）", "number", "吨"),
             ("车次", "integer", None))
DEPT = [["区", "街道", "清运作业", None, "备注"], [None, None, "清运量", "车次", None],
        ["南湖区", "建设街道", 120.5, 30, None], ["秀洲区", "新城街道", 95.0, 25, "雨天"]]
DEPT_MERGES = [(0, 0, 1, 0), (0, 1, 1, 1), (0, 2, 0, 3), (0, 4, 1, 4)]


# (id, sheet rows, merges, dataset, expected {dataset column: (file column, how)}, extra, problem words)
CASES: list[tuple[str, list[list[Any]], list[tuple[int, int, int, int]], DatasetInfo,
                  dict[str, tuple[str, str] | None], list[str], list[str]]] = [
    ("department-layout", DEPT, DEPT_MERGES, 清运,
     {"区": ("区", "name"), "街道": ("街道", "name"), "清运量（吨）": ("清运作业/清运量", "base"),
      "车次": ("清运作业/车次", "base")}, ["备注"], []),
    ("synonym", [["区", "垃圾量", "车次"], ["南湖区", 1.5, 3]], [],
     dataset("清运", ("区", "text", None), ("清运量（吨）", "number", "吨", ("垃圾量",)), ("车次", "integer", None)),
     {"区": ("区", "name"), "清运量（吨）": ("垃圾量", "synonym"), "车次": ("车次", "name")}, [], []),
    ("english-code", [["区名", "吨数", "车次"], ["district", "tonnage", "trips"], ["南湖区", 1.5, 3]], [],
     dataset("清运", ("district", "text", None), ("tonnage", "number", "吨"), ("trips", "integer", None)),
     {"district": ("区名", "alias"), "tonnage": ("吨数", "alias"), "trips": ("车次", "alias")}, [], []),
    ("by-unit", [["区", "街道", "重量（吨）", "车次"], ["南湖区", "建设街道", 1.5, 3]], [], 清运,
     {"区": ("区", "name"), "街道": ("街道", "name"), "清运量（吨）": ("重量（吨）", "unit"), "车次": ("车次", "name")},
     [], []),
    ("other-unit", [["区", "街道", "清运量（公斤）", "车次"], ["南湖区", "建设街道", 1500.0, 3]], [], 清运,
     {"区": ("区", "name"), "街道": ("街道", "name"), "清运量（吨）": ("清运量（公斤）", "base"),
      "车次": ("车次", "name")}, [],
     ["单位是「公斤」", "「吨」"]),
    ("missing-column", [["区", "街道", "清运量"], ["南湖区", "建设街道", 1.5]], [], 清运,
     {"区": ("区", "name"), "街道": ("街道", "name"), "清运量（吨）": ("清运量", "base"), "车次": None}, [],
     ["「车次」在文件中找不到对应的列"]),
    # two file columns could be 清运量: the clerk decides, nothing is guessed
    ("ambiguous", [["区", "上月", "本月", "车次"], [None, "清运量", "清运量", None], ["南湖区", 1.0, 2.0, 3]],
     [(0, 0, 1, 0), (0, 3, 1, 3)], dataset("清运", ("区", "text", None), ("清运量", "number", None),
                                            ("车次", "integer", None)),
     {"区": ("区", "name"), "清运量": None, "车次": ("车次", "name")}, ["上月/清运量", "本月/清运量"],
     ["「清运量」在文件中找不到对应的列"]),
]


@pytest.mark.parametrize(("case", "rows", "merges", "ds", "expected", "extra", "problems"), CASES,
                         ids=[c[0] for c in CASES])
def test_columns_map_onto_the_dataset(case: str, rows: list[list[Any]], merges: list[tuple[int, int, int, int]],
                                      ds: DatasetInfo, expected: dict[str, tuple[str, str] | None], extra: list[str],
                                      problems: list[str]) -> None:
    plan, _ = shape(rows, merges)
    target = match_dataset(plan, ds)
    got = {m.target: (m.source_name, m.how) if m.source is not None else None for m in target.matches}
    assert got == expected
    assert target.extra == extra
    assert all(any(w in p for p in target.problems) for w in problems)
    assert bool(target.problems) == bool(problems)


def test_the_clerks_pick_settles_an_ambiguous_column() -> None:
    rows, merges, ds = CASES[-1][1], CASES[-1][2], CASES[-1][3]
    plan, _ = shape(rows, merges)
    table = column_map_rows(match_dataset(plan, ds))
    assert [r["文件中的列"] for r in table] == ["区", "", "车次"]
    table[1]["文件中的列"] = "本月/清运量"
    target = match_dataset(plan, ds, chosen=chosen_from_rows(plan, table))
    assert (target.problems, target.extra) == ([], ["上月/清运量"])
    assert target.matches[1].how == "chosen"


def test_only_fitting_datasets_are_offered() -> None:
    plan, _ = shape(DEPT, DEPT_MERGES)
    other = dataset("空气质量", ("站点", "text", None), ("AQI", "integer", None), ("PM2.5", "number", "微克/立方米"))
    assert [t.dataset for t in offers(plan, [other, 清运])] == ["清运"]
    # the dataset the report's recipe was saved for is offered even when little fits
    assert [t.dataset for t in offers(plan, [other, 清运], recipe_dataset="空气质量")] == ["清运", "空气质量"]


# --------------------------------------------------------------------------- the whole month, for real
CLEAN = "区,街道,清运量（吨）,车次\n南湖区,建设街道,120.5,30\n秀洲区,新城街道,95,25\n"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    p = tmp_path / "w.duckdb"
    with open_warehouse(path=p) as wh:
        ingest_file(wh, ff.csv_text(tmp_path / "清运.csv", CLEAN), table="清运")
    return p


def test_monthly_department_report_appends_and_is_remembered(tmp_path: Path, db: Path) -> None:
    april, may = ff.xlsx_dept_report(tmp_path / "4月.xlsx", 4), ff.xlsx_dept_report(tmp_path / "5月.xlsx", 5)
    with open_warehouse(path=db) as wh:
        first = prepare_file(wh, april, recipes=True)
        offer = first.plan.append_targets[0]
        assert (offer.dataset, offer.problems, offer.applied) == ("清运", [], False)
        # the page: the mapping as options, read again, then written
        again = prepare_file(wh, april, append_options(wh, first.plan, "清运"))
        first.discard()
        assert [c.name for c in again.plan.columns] == ["区", "街道", "清运量（吨）", "车次"]
        assert again.plan.append_targets[0].applied
        result = commit(wh, again, table="清运", mode="append", save_recipe=True)
        again.discard()
        assert (result.write.rows_added, result.write.rows_written) == (3, 5)
        # next month: the recipe shapes the file as the dataset's, and offers the append first
        june = prepare_file(wh, may, recipes=True)
        assert june.plan.recipe is not None and june.plan.options.append_to == "清运"
        top = june.plan.append_targets[0]
        assert (top.dataset, top.by_recipe, top.applied) == ("清运", True, True)
        commit(wh, june, table="清运", mode="append")
        june.discard()
        info = Catalog(wh).get("清运")
        frame = Catalog(wh).preview("清运", 100)
    assert [(c.name, c.type, c.unit) for c in info.columns] == [
        ("区", "text", None), ("街道", "text", None), ("清运量（吨）", "number", "吨"), ("车次", "integer", None)]
    assert frame.height == 8
    assert frame.filter(pl.col("街道") == "新兴街道").get_column("清运量（吨）").sort().to_list() == [84.25, 85.25]


@pytest.mark.parametrize(
    ("build", "mode", "words"),
    [
        # a layout whose columns cannot all be found: refused, nothing written
        (lambda p: ff.csv_text(p, "区,街道,清运量\n南湖区,建设街道,1.5\n"), "append", "「车次」在文件中找不到对应的列"),
        (lambda p: ff.csv_text(p, "区,街道,清运量（公斤）,车次\n南湖区,建设街道,1500,3\n"), "append", "单位是「公斤」"),
        # 新建 under the dataset's name: told that it fits and can be appended
        (lambda p: ff.xlsx_dept_report(p, 4), "create", "这个文件的列与它一致，可以追加"),
    ],
    ids=["missing", "unit", "create-existing"],
)
def test_mismatched_append_is_refused(tmp_path: Path, db: Path, build: Any, mode: str, words: str) -> None:
    path = build(tmp_path / ("f.xlsx" if mode == "create" else "f.csv"))
    with open_warehouse(path=db) as wh, pytest.raises(UserFacingError, match=words):
        ingest_file(wh, path, table="清运", mode=mode)  # type: ignore[arg-type]
    with open_warehouse(path=db) as wh:
        assert Catalog(wh).get("清运").version == 1


def test_commit_refuses_an_unmapped_append(tmp_path: Path, db: Path) -> None:
    with open_warehouse(path=db) as wh:
        prepared = prepare_file(wh, ff.xlsx_dept_report(tmp_path / "4月.xlsx", 4))
        with pytest.raises(UserFacingError, match="还没有对应到数据集「清运」的列（清运作业/清运量 → 清运量（吨）"):
            commit(wh, prepared, table="清运", mode="append")
        prepared.discard()
        assert Catalog(wh).get("清运").version == 1


def test_ingest_file_maps_by_itself_and_says_so(tmp_path: Path, db: Path) -> None:
    """`citybi ingest --mode append`, the inbox and CSV feeds: mapped, re-read, and every step named."""
    with open_warehouse(path=db) as wh:
        result = ingest_file(wh, ff.xlsx_dept_report(tmp_path / "4月.xlsx", 4), table="清运", mode="append")
    assert result.write.rows_added == 3
    assert result.plan.warnings[:3] == [
        "已按列对应追加：文件的「清运作业/清运量」→ 数据集的「清运量（吨）」（去掉上级表头和单位后相同）",
        "已按列对应追加：文件的「清运作业/车次」→ 数据集的「车次」（去掉上级表头和单位后相同）",
        "文件的列「备注」在数据集「清运」中没有对应的列，未导入。",
    ]
    out = result.outcome()
    assert out["column_map"][2] == {"target": "清运量（吨）", "source": "清运作业/清运量", "how": "base"}
    assert out["skipped_columns"] == ["备注"]


# (first month's CSV, next month's CSV, the dataset column's type after both, what the append says)
TYPE_DRIFT = [
    # month 1 had a note in a number column, so the column is text; month 2 is clean numbers
    ("日期,清运量\n2024-01-01,1.5\n2024-01-02,见备注\n", "日期,清运量\n2024-02-01,2.5\n2024-02-02,3\n", "text",
     ["2.5", "3"], "文件的列「清运量」按数据集中「清运量」的类型（文本）导入。"),
    # the other way round: a stray word in a number column lands empty, and the clerk is told which
    ("日期,清运量\n2024-01-01,1.5\n2024-01-02,2\n", "日期,清运量\n2024-02-01,2.5\n2024-02-02,见备注\n", "number",
     [2.5, None], "文件的列「清运量」按数据集中「清运量」的类型（数值）导入。"),
]


@pytest.mark.parametrize(("first", "second", "typ", "landed", "said"), TYPE_DRIFT, ids=["text-kept", "number-kept"])
def test_next_months_column_takes_the_datasets_type(tmp_path: Path, first: str, second: str, typ: str,
                                                     landed: list[Any], said: str) -> None:
    """Same header, a different judged type: the append reads the file with the dataset's types
    (and says so) instead of refusing it as a changed column."""
    with open_warehouse(path=tmp_path / "w.duckdb") as wh:
        ingest_file(wh, ff.csv_text(tmp_path / "1月.csv", first), table="月报")
        result = ingest_file(wh, ff.csv_text(tmp_path / "2月.csv", second), table="月报", mode="append")
        assert said in result.plan.warnings
        assert {c.name: c.type for c in Catalog(wh).get("月报").columns}["清运量"] == typ
        frame = Catalog(wh).preview("月报", 10).sort("日期")
    assert frame.get_column("清运量").to_list()[2:] == landed


def test_english_codes_become_synonyms_and_map_a_later_file(tmp_path: Path) -> None:
    with open_warehouse(path=tmp_path / "w.duckdb") as wh:
        ingest_file(wh, ff.xlsx_code_header(tmp_path / "双语.xlsx"), table="双语清运")
        info = Catalog(wh).get("双语清运")
        assert [c.synonyms for c in info.columns] == [("date",), ("district",), ("street",), ("tonnage",), ("trips",)]
        codes_only = ff.csv_text(tmp_path / "codes.csv", "date,district,street,tonnage,trips\n"
                                                         "2024-03-04,南湖区,建设街道,7.5,2\n")
        result = ingest_file(wh, codes_only, table="双语清运", mode="append")
        assert (result.write.rows_added, result.write.rows_written) == (1, 4)
        assert [(m.source_name, m.how) for m in result.mapped.matches] == [  # type: ignore[union-attr]
            ("date", "synonym"), ("district", "synonym"), ("street", "synonym"), ("tonnage", "synonym"),
            ("trips", "synonym")]
