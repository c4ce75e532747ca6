"""Live datasets on PostgreSQL: the same chart, KPI card, question and row rule give the same rows as
the same table held in DuckDB; the door refuses on a live dataset what it refuses anywhere.

Needs the PostgreSQL server on 127.0.0.1:5432 (database test, trust). Each test module run makes its
own schema with a unique name and drops it afterwards.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import sqlglot
from sqlglot import exp

from citybi import context
from citybi.catalog import Catalog, open_warehouse
from citybi.charts.cache import ResultCache
from citybi.charts.runner import run_chart
from citybi.charts.spec import load_spec
from citybi.datasets_link import link
from citybi.engines import engine_for, registered, to_dialect
from citybi.errors import QueryRejected, UserFacingError
from citybi.nlq import answer
from citybi.warehouse import Warehouse

psycopg = pytest.importorskip("psycopg")
from pg_server import pg_connect  # noqa: E402  (after the importorskip on purpose)

pytestmark = pytest.mark.service

PG = "postgresql://postgres@127.0.0.1:5432/test"
NAME = "环卫清运"
TODAY = dt.date(2024, 5, 17)
D = dt.date
ROWS = [  # 日期, 区, 垃圾类型, 清运量
    (D(2024, 5, 6), "临江区", "厨余垃圾", 10.0),
    (D(2024, 5, 7), "临江区", "其他垃圾", 12.5),
    (D(2024, 5, 7), "青山区", "厨余垃圾", 8.0),
    (D(2024, 5, 13), "青山区", "可回收物", 6.0),
    (D(2024, 4, 15), "临江区", "其他垃圾", 20.0),
    (D(2024, 4, 16), "青山区", "其他垃圾", 5.0),
    (D(2023, 5, 8), "临江区", "厨余垃圾", 7.0),
    (D(2024, 5, 14), "青山区", "厨余垃圾", 9.0),
]
LINJIANG = context.Context(user="lj", role="analyst", scope=context.Scope(districts=frozenset({"临江区"})))



@pytest.fixture(scope="module")
def schema() -> Iterator[str]:
    name = f"citybi_eng_{uuid.uuid4().hex[:10]}"
    conn = pg_connect()
    # identifiers through psycopg.sql (test fixture setup on our own server, never user text)
    from psycopg import sql
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    conn.execute(sql.SQL('CREATE TABLE {}.{} ("日期" date, "区" text, "垃圾类型" text, "清运量" double precision)')
                 .format(sql.Identifier(name), sql.Identifier("sanitation")))
    with conn.cursor() as cur:
        cur.executemany(sql.SQL("INSERT INTO {}.{} VALUES (%s, %s, %s, %s)")
                        .format(sql.Identifier(name), sql.Identifier("sanitation")), ROWS)
    try:
        yield name
    finally:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
        conn.close()


def _frame() -> pl.DataFrame:
    return pl.DataFrame([list(c) for c in zip(*ROWS, strict=True)], schema=["日期", "区", "垃圾类型", "清运量"],
                        orient="col")


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    wh = open_warehouse(path=tmp_path_factory.mktemp("duck") / "d.duckdb")
    Catalog(wh).write(NAME, _frame())
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, schema: str) -> Iterator[Warehouse]:
    wh = open_warehouse(path=tmp_path_factory.mktemp("live") / "l.duckdb")
    link(Catalog(wh), NAME, PG, f"{schema}.sanitation")
    yield wh
    wh.close()


def _sorted(frame: pl.DataFrame) -> list[tuple]:
    return sorted((tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in frame.rows()), key=str)


def test_registry_and_link(live: Warehouse, schema: str) -> None:
    assert "postgresql" in registered()
    info = Catalog(live).get(NAME)
    assert [(c.name, c.type) for c in info.columns] == [("日期", "date"), ("区", "text"), ("垃圾类型", "text"),
                                                        ("清运量", "number")]
    target = Catalog(live).live_target(NAME)
    assert target is not None and (target.engine_url, target.source_table) == (PG, f"{schema}.sanitation")
    assert Catalog(live).governance(NAME).district_column == "区"
    from citybi import audit  # the link is audited with it (same transaction), engine kind and table only
    linked = audit.entries(live, action="datasets.link")
    assert [(e.target, e.detail) for e in linked] == [
        (NAME, f'{{"engine":"postgresql","source_table":"{schema}.sanitation"}}')]
    assert info.row_count == len(ROWS)  # counted once at link time: 问数 tells lookup columns by it


QUERIES = [
    'SELECT "区", SUM("清运量") AS t FROM "环卫清运" GROUP BY "区"',
    'SELECT COUNT(DISTINCT "垃圾类型") AS n FROM "环卫清运"',
    'SELECT "垃圾类型", COUNT(*) FILTER (WHERE "清运量" > 8) AS n FROM "环卫清运" GROUP BY 1',
    'SELECT DATE_TRUNC(\'month\', "日期") AS m, SUM("清运量") FROM "环卫清运" GROUP BY 1',
    'SELECT "区", SUM("清运量") / COUNT(*) AS avg FROM "环卫清运" AS h '
    'WHERE h."日期" >= DATE \'2024-05-01\' GROUP BY 1',
    'SELECT "区", SUM("清运量") AS t FROM "环卫清运" GROUP BY 1 ORDER BY t DESC LIMIT 1',
    'SELECT * FROM "环卫清运" WHERE "垃圾类型" = \'厨余垃圾\' AND "清运量" > 7.5',
    # integer division: DuckDB gives 0.375, PostgreSQL would give 0 unless sqlglot casts (it does)
    'SELECT COUNT(*) FILTER (WHERE "区" = \'临江区\') / COUNT(*) AS share FROM "环卫清运" WHERE "清运量" > 7',
    'SELECT "区" || \'-\' || "垃圾类型" AS k, MAX("清运量") FROM "环卫清运" GROUP BY 1',
]


@pytest.mark.parametrize("sql", QUERIES)
def test_same_rows_as_duckdb(duck: Warehouse, live: Warehouse, sql: str) -> None:
    tree = sqlglot.parse_one(sql, dialect="duckdb")
    want, got = duck.run(tree), live.run(tree)
    assert _sorted(got.frame) == _sorted(want.frame)


def test_params_are_bound_as_literals(duck: Warehouse, live: Warehouse) -> None:
    tree = sqlglot.parse_one('SELECT COUNT(*) FROM "环卫清运" WHERE "区" = ? AND "清运量" > ?', dialect="duckdb")
    assert live.run(tree, params=["临江区", 9.0]).rows == duck.run(tree, params=["临江区", 9.0]).rows == [(3,)]


def test_unaliased_columns_with_one_name_do_not_break(live: Warehouse) -> None:
    # PostgreSQL calls both "count"; the frame gets count, count_1 (DuckDB's way of making names unique)
    r = live.run(sqlglot.parse_one('SELECT COUNT(*), COUNT(DISTINCT "垃圾类型") FROM "环卫清运"', dialect="duckdb"))
    assert (r.columns, r.rows) == (["count", "count_1"], [(8, 3)])


def test_row_cap_holds_on_the_engine(live: Warehouse) -> None:
    r = live.run(sqlglot.parse_one('SELECT * FROM "环卫清运"', dialect="duckdb"), max_rows=3)
    assert (r.frame.height, r.truncated) == (3, True)


CHARTS = [
    f"title: 各区清运量\ndataset: {NAME}\ntype: bar\ndimensions: [{{column: 区}}]\nmeasures: [{{column: 清运量}}]\n",
    f"title: 按月\ndataset: {NAME}\ntype: line\ndimensions: [{{column: 日期, grain: 月}}]\n"
    f"measures: [{{column: 清运量}}]\n",
    f"title: 按周\ndataset: {NAME}\ntype: line\ndimensions: [{{column: 日期, grain: 周}}]\n"
    f"measures: [{{column: 清运量}}]\n",
    f"title: 按季\ndataset: {NAME}\ntype: bar\ndimensions: [{{column: 日期, grain: 季}}]\n"
    f"measures: [{{column: 清运量}}]\n",
    f"title: 本月\ndataset: {NAME}\ntype: line\ndimensions: [{{column: 日期, grain: 周}}]\n"
    f"measures: [{{column: 清运量}}]\nfilters: [{{op: relative, column: 日期, period: 本月}}]\n",
    f"title: 区间\ndataset: {NAME}\ntype: bar\ndimensions: [{{column: 区}}]\nmeasures: [{{column: 清运量}}]\n"
    f"filters: [{{op: date_range, column: 日期, start: 2024-04-01, end: 2024-05-07}}]\n"
    f"sort: {{by: 清运量, order: desc}}\n",
    f"title: 按日\ndataset: {NAME}\ntype: line\ndimensions: [{{column: 日期, grain: 日}}]\n"
    f"measures: [{{column: 清运量}}]\n",
    f"title: 按年\ndataset: {NAME}\ntype: table\ndimensions: [{{column: 日期, grain: 年}}, {{column: 垃圾类型}}]\n"
    f"measures: [{{column: 清运量}}, {{column: 清运量, agg: avg}}]\n",
]


@pytest.mark.parametrize("yaml_text", CHARTS)
def test_chart_same_frames(duck: Warehouse, live: Warehouse, yaml_text: str) -> None:
    spec = load_spec(yaml_text)
    want = run_chart(duck, spec, today=TODAY, cache=ResultCache(), render=False)
    got = run_chart(live, spec, today=TODAY, cache=ResultCache(), render=False)
    assert want.frames.keys() == got.frames.keys()
    for key in want.frames:
        assert _sorted(got.frames[key]) == _sorted(want.frames[key])


@pytest.mark.parametrize("grain", ["日", "周", "月", "季", "年"])
def test_kpi_card_same_numbers(duck: Warehouse, live: Warehouse, grain: str) -> None:
    spec = load_spec(f"title: 清运量\ndataset: {NAME}\ntype: kpi\nmeasures: [{{column: 清运量}}]\n"
                     f"options: {{date_column: 日期, grain: {grain}}}\n")
    want = run_chart(duck, spec, today=TODAY, cache=ResultCache()).output
    got = run_chart(live, spec, today=TODAY, cache=ResultCache()).output
    assert got.value == pytest.approx(want.value)
    for name in ("环比", "同比"):
        w, g = want.comparison(name), got.comparison(name)
        assert (g.base, g.pct) == (pytest.approx(w.base) if w.base is not None else None,
                                   pytest.approx(w.pct) if w.pct is not None else None)


@pytest.mark.parametrize("question", ["各区的清运量", "本月厨余垃圾的清运量合计", "清运量最多的区", "一共有多少条记录"])
def test_question_same_rows(duck: Warehouse, live: Warehouse, question: str) -> None:
    want = answer(question, Catalog(duck).datasets(), duck.run, today=TODAY, table=NAME)
    got = answer(question, Catalog(live).datasets(), live.run, today=TODAY, table=NAME)
    assert want.status == got.status == "ok", (want.message, got.message)
    key = str
    assert sorted(got.rows, key=key) == sorted(want.rows, key=key), got.sql


@pytest.mark.parametrize(("sql", "word"), [
    ("SELECT * FROM read_csv('/etc/passwd')", "表函数"),
    ('SELECT * FROM "环卫清运", pg_catalog.pg_user', "数据集"),
    ('SELECT version() FROM "环卫清运"', "函数"),
    ('SELECT * FROM "环卫清运" UNION ALL SELECT * FROM pg_shadow', "不存在"),
])
def test_door_refuses_on_live_dataset(live: Warehouse, sql: str, word: str) -> None:
    with pytest.raises(QueryRejected) as err:
        live.run(sqlglot.parse_one(sql, dialect="duckdb"))
    assert word in err.value.message


def test_door_refuses_non_select_on_live_dataset(live: Warehouse) -> None:
    with pytest.raises(QueryRejected, match="SELECT"):
        live.run(sqlglot.parse_one('DELETE FROM "环卫清运"', dialect="duckdb"))


def test_row_rule_applies_on_postgres(duck: Warehouse, live: Warehouse) -> None:
    tree = sqlglot.parse_one('SELECT "区", SUM("清运量") FROM "环卫清运" GROUP BY 1', dialect="duckdb")
    with context.use(LINJIANG):
        want, got = duck.run(tree), live.run(tree)
    assert _sorted(got.frame) == _sorted(want.frame) == [("临江区", 49.5)]
    assert got.scope_note == want.scope_note != ""


def test_mixing_engines_is_refused(live: Warehouse, tmp_path: Path) -> None:
    if "本地表" not in Catalog(live).names():
        Catalog(live).write("本地表", pl.DataFrame({"区": ["临江区"], "人口": [1]}))
    tree = sqlglot.parse_one('SELECT * FROM "环卫清运" JOIN "本地表" USING ("区")', dialect="duckdb")
    with pytest.raises(QueryRejected, match="不能同时读取"):
        live.run(tree)


def test_dialect_gap_is_a_chinese_refusal() -> None:
    # sqlglot cannot write ANY_VALUE (IGNORE NULLS) for PostgreSQL: refused before anything runs
    tree = sqlglot.parse_one('SELECT ANY_VALUE("区") FROM "环卫清运"', dialect="duckdb")
    with pytest.raises(QueryRejected, match="无法等价执行"):
        to_dialect(tree, "postgres", {})


@pytest.mark.parametrize("sql", [
    # passed through by sqlglot, but PostgreSQL has no such function: its error in Chinese, never numbers
    'SELECT ARG_MAX("区", "清运量") FROM "环卫清运"',
    'SELECT WEEK("日期") AS w, SUM("清运量") FROM "环卫清运" GROUP BY 1',
])
def test_function_missing_on_the_engine_is_a_chinese_refusal(live: Warehouse, sql: str) -> None:
    with pytest.raises(QueryRejected) as err:
        live.run(sqlglot.parse_one(sql, dialect="duckdb"))
    assert err.value.message.startswith("PostgreSQL 执行查询失败")


def test_timeout_is_enforced_on_the_server() -> None:
    engine = engine_for(PG)
    with pytest.raises(QueryRejected, match="秒未完成"):
        engine.run("SELECT pg_sleep(3)", None, 10, 0.3)


def test_password_in_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserFacingError, match="密码"):
        engine_for("postgresql://postgres:hunter2@127.0.0.1:5432/test")


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(QueryRejected, match="不支持的计算引擎"):
        engine_for("oracle://x@h/db")


def test_engine_tables_map_keeps_the_dataset_alias() -> None:
    tree = sqlglot.parse_one('SELECT h."区" FROM "环卫清运" AS h JOIN "环卫清运" ON TRUE', dialect="duckdb")
    t = exp.Table(this=exp.to_identifier("sanitation", quoted=True), db=exp.to_identifier("s", quoted=True))
    sql = to_dialect(tree, "postgres", {"环卫清运": t})
    assert sql == 'SELECT h."区" FROM "s"."sanitation" AS h JOIN "s"."sanitation" AS "环卫清运" ON TRUE'


def test_cli_link_keeps_the_password_out_of_the_warehouse(tmp_path: Path, schema: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from citybi.cli import main
    from citybi.secrets import SecretStore

    db = tmp_path / "cli.duckdb"
    SecretStore(db).set("pg-环卫", "s3cr3t-Zq9")
    assert main(["datasets", "link", "实时清运", "--engine", PG, "--source-table", f"{schema}.sanitation",
                 "--secret", "pg-环卫", "--db", str(db)]) == 0
    assert "已链接实时数据集「实时清运」" in capsys.readouterr().out
    with open_warehouse(path=db) as wh:
        r = wh.run(sqlglot.parse_one('SELECT SUM("清运量") FROM "实时清运"', dialect="duckdb"))
        assert r.rows == [(pytest.approx(77.5),)]
        assert Catalog(wh).live_target("实时清运").secret == "pg-环卫"
    assert b"s3cr3t-Zq9" not in db.read_bytes()
    # a password written into the URL is refused, and nothing is linked
    code = main(["datasets", "link", "另一个", "--engine", "postgresql://postgres:hunter2@127.0.0.1:5432/test",
                 "--source-table", f"{schema}.sanitation", "--db", str(db)])
    err = capsys.readouterr().err
    assert code != 0 and "不能写密码" in err and "hunter2" not in err
    with open_warehouse(path=db) as wh:
        assert "另一个" not in Catalog(wh).names()


@pytest.mark.parametrize(("table", "word"), [("no_such_schema.t", "找不到表"), ("a.b.c", "源表名")])
def test_cli_link_refuses_what_it_cannot_read(tmp_path: Path, table: str, word: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from citybi.cli import main

    code = main(["datasets", "link", "x", "--engine", PG, "--source-table", table, "--db", str(tmp_path / "w.duckdb")])
    assert code != 0 and word in capsys.readouterr().err


def test_cache_keeps_a_live_result_only_briefly(live: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    from citybi.charts import cache as cache_mod

    cache = ResultCache()
    tree = sqlglot.parse_one('SELECT SUM("清运量") AS t FROM "环卫清运"', dialect="duckdb")
    first, hit = cache.run(live, tree)
    assert (first.engine, hit) == ("postgres", False)
    assert cache.run(live, tree)[1] is True  # within the time-to-live: from the cache
    monkeypatch.setattr(cache_mod, "LIVE_TTL_S", 0.0)
    assert cache.run(live, tree)[1] is False  # expired: PostgreSQL is asked again


def test_cli_ask_on_a_live_warehouse(tmp_path: Path, schema: str, duck: Warehouse,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from citybi.cli import main

    db = tmp_path / "ask.duckdb"
    assert main(["datasets", "link", NAME, "--engine", PG, "--source-table", f"{schema}.sanitation",
                 "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["ask", "各区的清运量", "--db", str(db), "--today", "2024-05-17", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = answer("各区的清运量", Catalog(duck).datasets(), duck.run, today=TODAY, table=NAME)
    assert sorted(map(tuple, got["rows"]), key=str) == sorted(want.rows, key=str)
