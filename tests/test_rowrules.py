"""Row rules (citybi/rowrules.py) and dataset governance: tables of input → expected.

The attack table (every read path × every attack) is tests/security/test_sec_rows.py; this file
holds the pieces: which columns are recognised at import, what the rewrite makes of a query,
who may read what, and `citybi datasets govern`.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
import sqlglot

from citybi import context
from citybi.catalog import Catalog, open_warehouse
from citybi.cli import main
from citybi.context import SYSTEM, Context, Scope
from citybi.errors import QueryRejected
from citybi.rowrules import (
    Governance,
    apply,
    detect_by_values,
    detect_columns,
    readable,
    restricted,
    scope_note,
)

LJ = Context("u", "analyst", Scope("城管局", frozenset({"临江区"})))
GOV = {"t": Governance(department="城管局", district_column="区"), "s": Governance(department="城管局",
       district_column="区", street_column="街道"), "p": Governance(public=True), "u": Governance()}


@pytest.mark.parametrize(("columns", "expected"), [
    (["日期", "区", "街道", "吨"], ("区", "街道")),
    (["所在区", "所在街道"], ("所在区", "所在街道")),
    (["行政区", "数量"], ("行政区", None)),
    (["区 县", "镇街"], ("区 县", "镇街")),
    (["区域", "地区", "小区"], (None, None)),  # not names of a district column
    (["日期", "数量"], (None, None)),
])
def test_detect_columns(columns: list[str], expected: tuple[str | None, str | None]) -> None:
    assert detect_columns(columns) == expected


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT * FROM t", 'SELECT * FROM (SELECT * FROM "t" AS __rls WHERE __rls."区" IN (\'临江区\')) AS "t"'),
    ("SELECT x.a FROM t AS x", 'FROM (SELECT * FROM "t" AS __rls WHERE __rls."区" IN (\'临江区\')) AS x'),
    ("SELECT * FROM main.t", 'FROM (SELECT * FROM main."t" AS __rls WHERE __rls."区" IN (\'临江区\')) AS "t"'),
    ("SELECT * FROM p", "SELECT * FROM p"),  # 公开: read whole
    ("WITH c AS (SELECT * FROM t) SELECT * FROM c UNION ALL SELECT * FROM t",
     'WITH c AS (SELECT * FROM (SELECT * FROM "t" AS __rls WHERE __rls."区" IN (\'临江区\')) AS "t") '
     'SELECT * FROM c UNION ALL SELECT * FROM (SELECT * FROM "t" AS __rls WHERE __rls."区" IN (\'临江区\')) AS "t"'),
])
def test_rewrite(sql: str, expected: str) -> None:
    tree, narrowed = apply(sqlglot.parse_one(sql, dialect="duckdb"), LJ, frozenset(GOV), GOV)
    assert expected in tree.sql(dialect="duckdb")
    assert narrowed == (expected != sql)


@pytest.mark.parametrize(("ctx", "name", "refused"), [
    (LJ, "u", "还没有设置区/街道列"),
    (Context("u", "clerk", Scope("城管局", frozenset({"临江区"}))), "t", None),
    (Context("u", "clerk", Scope("环保局", frozenset({"临江区"}))), "t", "属于“城管局”"),
    (Context("u", "clerk", Scope("环保局", None)), "p", None),  # 公开: every department
    (Context("u", "analyst", Scope(None, None, frozenset({"滨江街道"}))), "t", "没有街道列"),
    (Context("u", "admin", Scope()), "u", None),
    (SYSTEM, "u", None),
])
def test_who_may_read(ctx: Context, name: str, refused: str | None) -> None:
    reason = readable(ctx, name, GOV[name])
    assert (reason is None) if refused is None else (refused in (reason or ""))


@pytest.mark.parametrize(("ctx", "is_restricted", "note"), [
    (SYSTEM, False, ""),
    (Context("a", "admin"), False, ""),
    (Context("a", "analyst"), False, ""),
    (Context("c", "clerk", Scope("城管局")), True, ""),
    (Context("c", "leader", Scope(None, frozenset({"云湖区", "临江区"}))), True,
     "按您的数据权限，只包含：临江区、云湖区"),
    (Context("c", "leader", Scope(None, frozenset())), True, "按您的数据权限，只包含：（无）"),
])
def test_restricted_and_note(ctx: Context, is_restricted: bool, note: str) -> None:
    assert restricted(ctx) == is_restricted
    assert scope_note(ctx) == note


def test_empty_scope_reads_nothing_and_a_lost_column_refuses(tmp_path: Path) -> None:
    wh = open_warehouse(path=tmp_path / "w.duckdb")
    cat = Catalog(wh)
    cat.write("清运", pl.DataFrame({"区": ["临江区", "北港区"], "吨": [1.0, 2.0]}))
    q = sqlglot.parse_one("SELECT * FROM 清运", dialect="duckdb")
    with context.use(Context("n", "analyst", Scope(None, frozenset()))):
        assert wh.run(q).frame.height == 0
    cat.write("清运", pl.DataFrame({"区县名": ["临江区"], "吨": [1.0]}), mode="replace")  # 区 is gone
    with context.use(LJ), pytest.raises(QueryRejected):
        wh.run(q)
    wh.close()


def test_import_sets_governance_and_the_cli_changes_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "w.duckdb"
    wh = open_warehouse(path=db)
    with context.use(Context("c", "clerk", Scope("城管局", frozenset({"临江区"})))):
        Catalog(wh).write("事件", pl.DataFrame({"日期": [dt.date(2025, 1, 1)], "所在区": ["临江区"],
                                               "所在街道": ["滨江街道"]}))
    assert Catalog(wh).governance("事件") == Governance("城管局", "所在区", "所在街道", False)
    wh.close()
    assert main(["datasets", "govern", "事件", "--department", "环保局", "--street-column", "", "--public",
                 "--db", str(db)]) == 0
    assert "归属部门：环保局" in capsys.readouterr().out
    assert main(["datasets", "govern", "事件", "--district-column", "没有这列", "--db", str(db)]) == 2
    assert "没有名为「没有这列」的列" in capsys.readouterr().err
    with open_warehouse(path=db) as wh:
        assert Catalog(wh).governance("事件") == Governance("环保局", "所在区", None, True)


@pytest.mark.parametrize(("columns", "expected"), [
    ({"辖区": {"临江区", "云湖区"}, "片": {"滨江街道"}}, ("辖区", "片")),
    ({"辖区": {"临江区", "外地"}}, (None, None)),  # half the values are no district: not a district column
    ({"类型": {"厨余垃圾"}}, (None, None)),
])
def test_detect_by_values(columns: dict[str, set[str]], expected: tuple[str | None, str | None]) -> None:
    levels = {"区": {"临江区", "云湖区", "北港区"}, "街道": {"滨江街道", "江湾街道"}}
    assert detect_by_values(columns, levels) == expected


def test_import_finds_a_district_column_by_its_values(sample_copy: object) -> None:
    with open_warehouse(path=sample_copy("rows_by_value")) as wh:  # type: ignore[operator]
        Catalog(wh).write("辖区事件", pl.DataFrame({"辖区": ["临江区", "北港区"], "数": [1, 2]}))
        assert Catalog(wh).governance("辖区事件") == Governance(None, "辖区", None)


def test_sample_city_is_governed(sample_copy: object) -> None:
    path = sample_copy("rows_samples")  # type: ignore[operator]
    with open_warehouse(path=path) as wh:
        got = {n: Catalog(wh).governance(n) for n in Catalog(wh).names()}
    assert got == {
        "环卫清运": Governance("城管局", "区", "街道"), "网格事件": Governance("城管局", "区", "街道"),
        "热线工单": Governance("政务服务中心", "区", "街道"), "空气质量": Governance("生态环境局", "区"),
        "区县概况": Governance("统计局", "区"),
        "数据质量": Governance(),  # the quality history: no owner, not 公开 → full readers only (citybi.quality)
    }


def test_a_warehouse_from_before_governance_is_backfilled(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    with open_warehouse(path=db) as wh:
        Catalog(wh).write("旧表", pl.DataFrame({"所属区": ["临江区"], "街道": ["滨江街道"], "数": [1]}))
        with wh.transaction() as cur:  # as a file written before dataset_governance existed
            cur.execute("DROP TABLE _citybi.dataset_governance")
    with open_warehouse(path=db) as wh:
        assert Catalog(wh).governance("旧表") == Governance(None, "所属区", "街道")
