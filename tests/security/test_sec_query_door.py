"""Query door: attack SQL → refused with a Chinese message; the SQL the product needs still runs.

Every user-driven query reaches DuckDB through `Warehouse.run`. These attacks were found by
probing that door the way an outsider would: scope tricks that make a system view look like a
CTE (a CTE defined in another scope, later in the list, in its own body, under a name that
only Python lower-cases to the target), table-valued functions and LATERAL sources, functions
that read the server's state, statements hidden in a subquery (DESCRIBE, SUMMARIZE, PIVOT),
and trees whose printed SQL says something other than the tree (verbatim text in a number or
an unquoted identifier). Before the fix each one either returned catalog DDL / settings / the
database name, ran a table function, or crashed the process with a Rust panic.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest
import sqlglot
from sqlglot import exp

from citybi.catalog import Catalog, open_warehouse
from citybi.errors import QueryRejected
from citybi.warehouse import Warehouse

T = "环卫清运"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture()
def wh(tmp_path: Path) -> Warehouse:
    w = open_warehouse(path=tmp_path / "door.duckdb")
    cat = Catalog(w)
    cat.write(T, pl.DataFrame({
        "日期": [dt.date(2024, 1, d) for d in (1, 2, 3)],
        "区": ["南湖区", "秀洲区", "南湖区"],
        "清运量（吨）": [1.0, 2.0, 4.0],
    }))
    cat.write("Roads", pl.DataFrame({"name": ["a", "b"], "km": [1.5, 2.5], "User": ["甲", "乙"]}))
    yield w
    w.close()


def _refused(wh: Warehouse, tree: exp.Expression, fragment: str) -> None:
    with pytest.raises(QueryRejected) as info:
        rows = wh.run(tree).rows
        pytest.fail(f"ran and returned {str(rows)[:200]}")
    err = info.value
    assert CJK.search(err.message), err.message
    assert fragment in str(err), str(err)


# (sql, a fragment of the expected Chinese refusal)
ATTACKS = [
    # scope: a CTE of an inner query does not hide the system view of the outer one
    pytest.param("SELECT * FROM (WITH sqlite_master AS (SELECT 1 a) SELECT * FROM sqlite_master) q, sqlite_master",
                 "不存在", id="cte-inner-scope-sqlite_master"),
    pytest.param("SELECT * FROM (WITH duckdb_tables AS (SELECT 1 a) SELECT * FROM duckdb_tables) q, duckdb_tables",
                 "不存在", id="cte-inner-scope-duckdb_tables"),
    pytest.param("SELECT * FROM (WITH duckdb_views AS (SELECT 1 a) SELECT * FROM duckdb_views) q, duckdb_views",
                 "不存在", id="cte-inner-scope-duckdb_views"),
    pytest.param("SELECT * FROM (WITH duckdb_databases AS (SELECT 1 a) SELECT 1) q, duckdb_databases",
                 "不存在", id="cte-inner-scope-duckdb_databases-path"),
    pytest.param("SELECT * FROM (WITH pg_settings AS (SELECT 1 a) SELECT 1) q, pg_settings",
                 "不存在", id="cte-inner-scope-pg_settings"),
    pytest.param("SELECT sql FROM sqlite_master UNION ALL "
                 "(WITH sqlite_master AS (SELECT 'x' AS sql) SELECT sql FROM sqlite_master)",
                 "不存在", id="cte-other-union-branch"),
    pytest.param("WITH sqlite_master AS (SELECT * FROM sqlite_master) SELECT * FROM sqlite_master",
                 "不存在", id="cte-own-body-reads-real-view"),
    pytest.param("WITH RECURSIVE sqlite_master AS (SELECT * FROM sqlite_master) SELECT * FROM sqlite_master",
                 "递归", id="cte-recursive"),
    pytest.param("WITH a AS (SELECT * FROM pg_settings), pg_settings AS (SELECT 1 x) SELECT * FROM a",
                 "不存在", id="cte-defined-later-in-list"),
    pytest.param("WITH sqlite_master AS (SELECT 1 x) SELECT * FROM main.sqlite_master",
                 "只能读取", id="cte-name-qualified-main"),
    pytest.param('WITH "duc\u212adb_tables" AS (SELECT 1 x) SELECT * FROM duckdb_tables',
                 "不存在", id="cte-kelvin-sign-case-fold"),
    pytest.param("SELECT (SELECT string_agg(sql, ';') FROM sqlite_master) AS ddl "
                 "FROM (WITH sqlite_master AS (SELECT 1) SELECT 1) q",
                 "不存在", id="select-list-subquery"),
    pytest.param(f"SELECT count(*) FROM {T} WHERE EXISTS (SELECT 1 FROM pg_settings WHERE name = 'threads') "
                 f"AND 1 IN (SELECT 1 FROM (WITH pg_settings AS (SELECT 1) SELECT 1) q)",
                 "不存在", id="where-subquery"),
    # qualified names never name a dataset
    pytest.param("SELECT * FROM system.main.duckdb_databases", "只能读取", id="system-catalog"),
    pytest.param("SELECT * FROM information_schema.tables", "只能读取", id="information_schema"),
    pytest.param("SELECT * FROM pg_catalog.pg_class", "只能读取", id="pg_catalog"),
    pytest.param("SELECT * FROM _citybi.datasets", "只能读取", id="internal-schema"),
    pytest.param("SELECT * FROM pg_class", "不存在", id="pg_class-on-search-path"),
    pytest.param("SELECT * FROM \"SQLite_Master\"", "不存在", id="quoted-other-case"),
    pytest.param("SELECT * FROM ds_1_v1", "不存在", id="physical-version-table"),
    # table-valued functions and LATERAL sources
    pytest.param(f"SELECT * FROM {T}, LATERAL checkpoint()", "表函数", id="lateral-checkpoint"),
    pytest.param(f"SELECT * FROM {T}, LATERAL range(3)", "表函数", id="lateral-range"),
    pytest.param(f"SELECT * FROM {T}, LATERAL json_each('[1, 2]')", "表函数", id="lateral-json_each"),
    pytest.param(f"SELECT * FROM {T}, LATERAL test_all_types()", "表函数", id="lateral-test_all_types"),
    pytest.param("SELECT * FROM duckdb_settings()", "表函数", id="from-duckdb_settings"),
    pytest.param("SELECT * FROM range(10)", "表函数", id="from-range"),
    pytest.param("SELECT * FROM read_csv('/etc/passwd')", "表函数", id="from-read_csv"),
    pytest.param("SELECT * FROM pragma_table_info('环卫清运')", "表函数", id="from-pragma_table_info"),
    pytest.param(f"SELECT * FROM {T}, unnest((SELECT list(sql) FROM sqlite_master))", "UNNEST",
                 id="unnest-of-a-subquery"),
    pytest.param(f"SELECT * FROM {T}, unnest(range(3))", "UNNEST", id="unnest-of-a-function"),
    pytest.param("SELECT * FROM 'data/citybi.duckdb'", "不存在", id="string-literal-as-table"),
    # statements and pivots hidden in a subquery
    pytest.param(f"SELECT * FROM (DESCRIBE {T})", "不允许", id="describe-subquery"),
    pytest.param(f"SELECT * FROM (SUMMARIZE {T})", "不允许", id="summarize-subquery"),
    pytest.param(f'SELECT * FROM (PIVOT {T} ON 区 USING sum("清运量（吨）"))', "不允许", id="pivot-statement"),
    pytest.param(f"SELECT * FROM {T} PIVOT (sum(\"清运量（吨）\") FOR 区 IN ('南湖区'))", "不允许",
                 id="pivot-clause"),
    pytest.param(f"DESCRIBE {T}", "只能执行查询", id="describe"),
    pytest.param("SHOW TABLES", "只能执行查询", id="show"),
    pytest.param(f"SUMMARIZE {T}", "只能执行查询", id="summarize"),
    # functions that read the server's state, anywhere in the query
    pytest.param("SELECT current_setting('threads')", "函数", id="current_setting"),
    pytest.param("SELECT getenv('HOME')", "函数", id="getenv"),
    pytest.param("SELECT current_database()", "函数", id="current_database"),
    pytest.param(f"SELECT count(*) FROM {T} WHERE version() LIKE 'v%'", "函数", id="version-in-where"),
    pytest.param("SELECT current_schema(), current_user", "函数", id="current_schema"),
    pytest.param("SELECT user, current_role", "函数", id="bare-keyword-functions"),
    pytest.param('SELECT "current_catalog" FROM 环卫清运', "函数", id="quoted-keyword-function-db-name"),
    pytest.param("SELECT getvariable('x')", "函数", id="getvariable"),
    pytest.param("SELECT pg_get_viewdef(o) FROM (VALUES (1), (2)) v(o)", "函数", id="pg_get_viewdef"),
    pytest.param("SELECT pg_catalog.pg_get_viewdef(1)", "不允许", id="schema-qualified-function"),
    pytest.param("SELECT nextval('s')", "函数", id="nextval"),
    pytest.param("SELECT setseed(0.5)", "函数", id="setseed"),
    pytest.param("SELECT json_serialize_sql('SELECT 1')", "函数", id="json_serialize_sql"),
    pytest.param(f"SELECT * FROM {T} ORDER BY random()", "函数", id="random"),
]


@pytest.mark.parametrize(("sql", "fragment"), ATTACKS)
def test_attack_sql_is_refused(wh: Warehouse, sql: str, fragment: str) -> None:
    _refused(wh, sqlglot.parse_one(sql, dialect="duckdb"), fragment)


def _ds() -> exp.Table:
    return exp.Table(this=exp.to_identifier(T, quoted=True))


# trees whose printed SQL is not what the tree says: the door must judge the SQL that runs
FORGED = [
    pytest.param(lambda: exp.select(exp.Literal.number("(SELECT string_agg(sql, ';') FROM sqlite_master)"))
                 .from_(_ds()), "不存在", id="verbatim-number-literal"),
    pytest.param(lambda: exp.select(exp.Column(this=exp.Identifier(
                     this="(SELECT string_agg(sql, ';') FROM sqlite_master)", quoted=False))).from_(_ds()),
                 "不存在", id="verbatim-unquoted-identifier"),
    pytest.param(lambda: exp.select(exp.Anonymous(this="(SELECT min(sql) FROM sqlite_master) || random"))
                 .from_(_ds()), "不允许的函数", id="verbatim-function-name"),
]


@pytest.mark.parametrize(("build", "fragment"), FORGED)
def test_forged_tree_is_judged_by_its_sql(wh: Warehouse, build, fragment: str) -> None:
    _refused(wh, build(), fragment)


def test_a_second_statement_never_runs(wh: Warehouse) -> None:
    """A number printed verbatim could end the SELECT and start a DROP: the door sees two statements."""
    forged = exp.select(exp.Literal.number('1; DROP VIEW "Roads"; SELECT 1')).from_(_ds())
    _refused(wh, forged, "无法")
    assert wh.run(sqlglot.parse_one('SELECT count(*) FROM "Roads"', dialect="duckdb")).rows == [(2,)]


@pytest.mark.parametrize("sql", [
    pytest.param("SELECT INTERVAL 1 DAY AS 间隔", id="interval"),
    pytest.param(f'SELECT max("日期") - min("日期")::TIMESTAMP AS 间隔 FROM {T}', id="timestamp-difference"),
    pytest.param("SELECT [INTERVAL 1 DAY] AS 间隔", id="list-of-interval-rust-panic"),
])
def test_result_types_polars_cannot_take_are_refused_in_chinese(wh: Warehouse, sql: str) -> None:
    _refused(wh, sqlglot.parse_one(sql, dialect="duckdb"), "INTERVAL")


# (sql, params, expected rows): shapes the product builds or a reasonable chart may need
LEGIT = [
    pytest.param(f'SELECT CAST(DATE_TRUNC(\'month\', "日期") AS DATE) AS 月份, SUM("清运量（吨）") FROM "{T}" '
                 "GROUP BY 1 ORDER BY 1", None, [(dt.date(2024, 1, 1), 7.0)], id="product-aggregate"),
    pytest.param(f'SELECT 区, COUNT(*) FILTER (WHERE "清运量（吨）" > 1) AS n FROM {T} GROUP BY 区 ORDER BY 区',
                 None, [("南湖区", 1), ("秀洲区", 1)], id="filter-aggregate"),
    pytest.param(f'SELECT COUNT(DISTINCT 区), ROUND(AVG("清运量（吨）"), 2), '
                 f'COALESCE(NULLIF(MIN(区), \'南湖区\'), \'无\') FROM {T}', None, [(2, 2.33, "无")],
                 id="distinct-round-coalesce"),
    pytest.param(f"WITH x AS (SELECT * FROM {T}) SELECT count(*) FROM x", None, [(3,)], id="cte"),
    pytest.param(f'WITH {T} AS (SELECT * FROM {T} WHERE "清运量（吨）" > 1) SELECT count(*) FROM {T}', None,
                 [(2,)], id="cte-shadowing-its-dataset"),
    pytest.param(f"WITH a AS (SELECT 区 FROM {T}) SELECT * FROM a UNION ALL SELECT * FROM a ORDER BY 1", None,
                 [("南湖区",), ("南湖区",), ("南湖区",), ("南湖区",), ("秀洲区",), ("秀洲区",)],
                 id="cte-in-both-union-branches"),
    pytest.param(f"WITH a AS (SELECT * FROM {T}), b AS (SELECT * FROM a) SELECT count(*) FROM b", None, [(3,)],
                 id="cte-chain"),
    pytest.param(f"WITH a AS (SELECT 区 FROM {T} WHERE 区 = '秀洲区') "
                 f"SELECT count(*) FROM {T} WHERE 区 IN (SELECT 区 FROM a)", None, [(1,)],
                 id="cte-seen-from-where-subquery"),
    pytest.param(f"SELECT count(*) FROM {T} t WHERE EXISTS (SELECT 1 FROM {T} u WHERE u.区 = t.区 AND u.日期 > t.日期)",
                 None, [(1,)], id="correlated-exists"),
    pytest.param('SELECT count(*) FROM "ROADS"', None, [(2,)], id="quoted-other-case-dataset"),
    pytest.param('WITH "A" AS (SELECT 1 AS x) SELECT * FROM a', None, [(1,)], id="quoted-other-case-cte"),
    pytest.param('SELECT "User" FROM "Roads" ORDER BY 1', None, [("乙",), ("甲",)], id="column-named-like-user"),
    pytest.param("SELECT * FROM (VALUES (1, '南湖区'), (2, '秀洲区')) v(n, 区) ORDER BY n", None,
                 [(1, "南湖区"), (2, "秀洲区")], id="values"),
    pytest.param("SELECT x FROM unnest([3, 1, 2]) AS u(x) ORDER BY x", None, [(1,), (2,), (3,)],
                 id="unnest-literal-list"),
    pytest.param(f'SELECT 区, d.n FROM {T}, LATERAL (SELECT "清运量（吨）" * 2 AS n) d ORDER BY d.n', None,
                 [("南湖区", 2.0), ("秀洲区", 4.0), ("南湖区", 8.0)], id="lateral-subquery"),
    pytest.param(f'SELECT 区, rank() OVER (ORDER BY "清运量（吨）" DESC) AS r FROM {T} ORDER BY r', None,
                 [("南湖区", 1), ("秀洲区", 2), ("南湖区", 3)], id="window"),
    pytest.param(f'SELECT CASE WHEN "清运量（吨）" > 1 THEN \'多\' ELSE \'少\' END AS k, count(*) FROM {T} '
                 "GROUP BY k ORDER BY k", None, [("多", 2), ("少", 1)], id="case"),
    pytest.param(f"SELECT count(*) FROM {T} WHERE 区 = ? AND 日期 >= ?", ["南湖区", dt.date(2024, 1, 2)], [(1,)],
                 id="placeholders"),
    pytest.param(f"SELECT 区 FROM {T} INTERSECT SELECT 区 FROM {T} WHERE 区 = '秀洲区'", None, [("秀洲区",)],
                 id="intersect"),
]


@pytest.mark.parametrize(("sql", "params", "expected"), LEGIT)
def test_legitimate_sql_still_runs(wh: Warehouse, sql: str, params: list | None, expected: list[tuple]) -> None:
    assert wh.run(sqlglot.parse_one(sql, dialect="duckdb"), params=params).rows == expected


def test_a_text_that_passed_once_is_judged_again_when_the_datasets_change(wh: Warehouse) -> None:
    """The door remembers texts that passed (no re-parse on a board's rerun); the memory is keyed
    by the dataset names, so a deleted dataset is refused by the very same text."""
    tree = sqlglot.parse_one('SELECT "区", SUM("清运量（吨）") AS t FROM "环卫清运" GROUP BY 1', dialect="duckdb")
    assert len(wh.run(tree).rows) == 2
    assert len(wh.run(tree).rows) == 2  # remembered
    Catalog(wh).delete(T)
    _refused(wh, tree, "不存在")
