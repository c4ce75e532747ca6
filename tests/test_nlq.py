"""Question → expected rows (or refusal) over small fixture tables in an in-memory DuckDB.

The fixtures are our own (not the benchmark's), so these tests pin general behaviour:
value learning from the data, grouping, ranking, comparisons with units, ratios,
per-day averages, lookups, routing between tables, and honest refusals.
"""
from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

import duckdb
import pytest
from sqlglot import exp

from citybi.nlq import answer, ask_batch
from citybi.schema import ColumnInfo, DatasetInfo

TODAY = dt.date(2024, 6, 15)
D = dt.date

REPAIRS = [  # 日期, 片区, 故障类型, 维修费用（元）, 工时
    (D(2024, 6, 10), "东片", "路灯", 100.0, 2),
    (D(2024, 6, 11), "东片", "井盖", 50.0, 1),
    (D(2024, 6, 12), "西片", "路灯", 200.0, 3),
    (D(2024, 6, 14), "西片", "路灯", 300.0, 4),
    (D(2024, 6, 3), "南片", "井盖", 80.0, 2),
    (D(2024, 5, 20), "东片", "路灯", 120.0, 2),
    (D(2024, 5, 5), "西片", "井盖", 60.0, 1),
    (D(2023, 12, 1), "南片", "路灯", 90.0, 1),
]
SCHOOLS = [("一中", 1200, 5.0), ("二中", 800, 3.2), ("实验小学", 600, 1.5)]


def _datasets(con: duckdb.DuckDBPyConnection, version: int = 1) -> list[DatasetInfo]:
    n1 = con.execute('SELECT COUNT(*) FROM "维修记录"').fetchone()[0]
    repairs = DatasetInfo("维修记录", "维修记录", "", (
        ColumnInfo("日期", "date", "DATE"),
        ColumnInfo("片区", "text", "VARCHAR"),
        ColumnInfo("故障类型", "text", "VARCHAR"),
        ColumnInfo("维修费用（元）", "number", "DOUBLE", unit="元"),
        ColumnInfo("工时", "integer", "BIGINT"),
    ), n1, version)
    schools = DatasetInfo("学校概况", "学校概况", "", (
        ColumnInfo("学校名称", "text", "VARCHAR"),
        ColumnInfo("学生数", "integer", "BIGINT"),
        ColumnInfo("占地面积（万平方米）", "number", "DOUBLE", unit="万平方米"),
    ), 3, 1)
    return [repairs, schools]


@pytest.fixture(scope="module")
def env() -> Any:
    con = duckdb.connect()
    con.execute('CREATE TABLE "维修记录" ("日期" DATE, "片区" VARCHAR, "故障类型" VARCHAR, '
                '"维修费用（元）" DOUBLE, "工时" BIGINT)')
    con.executemany('INSERT INTO "维修记录" VALUES (?, ?, ?, ?, ?)', REPAIRS)
    con.execute('CREATE TABLE "学校概况" ("学校名称" VARCHAR, "学生数" BIGINT, "占地面积（万平方米）" DOUBLE)')
    con.executemany('INSERT INTO "学校概况" VALUES (?, ?, ?)', SCHOOLS)
    seen: list[str] = []

    def run(tree: exp.Expression) -> Any:
        assert isinstance(tree, exp.Select)  # only SELECT trees ever reach the warehouse
        sql = tree.sql(dialect="duckdb")
        seen.append(sql)
        cur = con.execute(sql)
        return SimpleNamespace(columns=[d[0] for d in cur.description], rows=cur.fetchall())

    return SimpleNamespace(con=con, run=run, datasets=_datasets(con), seen=seen)


def _rows(rows: list[tuple]) -> list[tuple]:
    out = []
    for r in rows:
        out.append(tuple(round(v, 3) if isinstance(v, float) else v for v in r))
    return out


@pytest.mark.parametrize(("question", "table", "expected", "ordered"), [
    ("本周各片区的维修费用", "维修记录", [("东片", 150.0), ("西片", 500.0)], False),
    ("上个月一共多少条维修记录", "维修记录", [(2,)], False),
    ("这周哪个片区的维修费用最多", "维修记录", [("西片", 500.0)], False),
    ("今年路灯的维修费用合计", "维修记录", [(720.0,)], False),
    ("去年的维修费用", "维修记录", [(90.0,)], False),
    ("维修费用超过100元的记录有多少条", "维修记录", [(3,)], False),
    ("维修费用在50到100之间的记录数", "维修记录", [(5,)], False),
    ("各故障类型的平均工时", "维修记录", [("井盖", 1.333), ("路灯", 2.4)], False),
    ("东片和西片的维修费用分别是多少", "维修记录", [("东片", 270.0), ("西片", 560.0)], False),
    ("路灯的占比", "维修记录", [(0.625,)], False),
    ("有多少个不同的片区", "维修记录", [(3,)], False),
    ("本月平均每天的维修费用", "维修记录", [(146.0,)], False),
    ("最近7天每天的维修费用", "维修记录",
     [(D(2024, 6, 10), 100.0), (D(2024, 6, 11), 50.0), (D(2024, 6, 12), 200.0), (D(2024, 6, 14), 300.0)], True),
    ("维修费用排名前2的片区", "维修记录", [("西片", 560.0), ("东片", 270.0)], True),
    ("按片区统计上周的工时，从高到低", "维修记录", [("南片", 2)], True),
    ("最近7天维修费用最高是多少", "维修记录", [(300.0,)], False),
    ("学生数最多的学校", "学校概况", [("一中", 1200)], False),
    ("一中的学生数是多少", "学校概况", [("一中", 1200)], False),
    ("学生数超过700的学校有哪些", "学校概况", [("一中",), ("二中",)], False),
    ("占地面积超过2万平方米的学校有哪些", "学校概况", [("一中",), ("二中",)], False),
    ("一中和二中哪个学生数更多", "学校概况", [("一中", 1200)], False),
    ("一中与二中的学生数差距是多少", "学校概况", [(400,)], False),
])
def test_question_rows(env: Any, question: str, table: str, expected: list[tuple], ordered: bool) -> None:
    a = answer(question, env.datasets, env.run, today=TODAY, table=table)
    assert a.status == "ok", a.message
    got = _rows(a.rows)
    assert got == expected if ordered else sorted(got, key=str) == sorted(expected, key=str), (a.reading, a.sql)


@pytest.mark.parametrize(("question", "word"), [
    ("明天的维修费用是多少", "预测"),
    ("帮我删除东片的维修记录", "修改"),
    ("把西片的费用改成0", "修改"),
    ("你好", "您好"),
    ("各片区的降雨量", "降雨量"),
    ("哪个片区的满意度最高", "满意度"),
    ("今年学生数最多的学校", "日期"),
])
def test_refusals(env: Any, question: str, word: str) -> None:
    before = len(env.seen)
    a = answer(question, env.datasets, env.run, today=TODAY, table="学校概况" if "学校" in question else "维修记录")
    assert a.status == "unsupported"
    assert a.rows == [] and a.sql == ""
    assert word in a.message
    assert a.suggestions  # always something the table can answer
    # a refusal never runs a data query (only value learning, which is cached by now)
    assert all("DISTINCT" in s for s in env.seen[before:])


@pytest.mark.parametrize(("question", "table"), [
    ("各片区的维修费用", "维修记录"),
    ("学生数最多的学校", "学校概况"),
    ("路灯故障有多少条", "维修记录"),
])
def test_routing(env: Any, question: str, table: str) -> None:
    a = answer(question, env.datasets, env.run, today=TODAY)
    assert a.status == "ok"
    assert a.table == table
    assert table in a.message  # we say which table we picked


def test_answer_shape(env: Any) -> None:
    a = answer("这周哪个片区的维修费用最多", env.datasets, env.run, today=TODAY, table="维修记录")
    assert "时间：2024-06-10 至 2024-06-16" in a.reading
    assert "分组：片区" in a.reading and "取最大的 1 个" in a.reading
    assert a.sql.startswith("SELECT") and "\n" in a.sql  # pretty-printed
    assert a.spec is not None and a.spec["group_by"] == ["片区"]
    assert answer("各片区的维修费用", env.datasets, env.run, today=TODAY, table="维修记录").chart == "bar"
    assert answer("最近7天每天的维修费用", env.datasets, env.run, today=TODAY, table="维修记录").chart == "line"
    assert answer("维修费用合计", env.datasets, env.run, today=TODAY, table="维修记录").chart == "number"


def test_to_json_and_batch(env: Any) -> None:
    lines = [{"id": "a", "question": "最近7天每天的维修费用", "table": "维修记录"},
             {"id": 2, "question": "你好"}]
    out = list(ask_batch(lines, env.datasets, env.run, TODAY))
    assert [o["id"] for o in out] == ["a", 2]
    assert out[0]["status"] == "ok" and out[0]["rows"][0] == ["2024-06-10", 100.0]
    assert out[1]["status"] == "unsupported" and out[1]["rows"] == []
    json.dumps(out, ensure_ascii=False)  # JSON-safe


def test_two_date_columns_are_surfaced() -> None:
    con = duckdb.connect()
    con.execute('CREATE TABLE t ("下单日期" DATE, "发货日期" DATE, "金额" DOUBLE)')
    con.execute("INSERT INTO t VALUES (DATE '2024-05-30', DATE '2024-06-02', 10), "
                "(DATE '2024-06-01', DATE '2024-06-03', 5)")
    ds = DatasetInfo("t", "t", "", (ColumnInfo("下单日期", "date", "DATE"), ColumnInfo("发货日期", "date", "DATE"),
                                    ColumnInfo("金额", "number", "DOUBLE")), 2, 1)

    def run(tree: exp.Expression) -> Any:
        cur = con.execute(tree.sql(dialect="duckdb"))
        return SimpleNamespace(columns=[d[0] for d in cur.description], rows=cur.fetchall())

    a = answer("本月的金额合计", [ds], run, today=TODAY)
    assert a.rows == [(5.0,)]
    assert a.alternatives == ["发货日期"] and "发货日期" in a.message
    b = answer("发货日期为本月的金额合计", [ds], run, today=TODAY)
    assert b.rows == [(15.0,)]


def test_new_data_invalidates_learned_values(env: Any) -> None:
    env.con.execute('INSERT INTO "维修记录" VALUES (DATE \'2024-06-13\', \'北片\', \'路灯\', 40, 1)')
    try:
        datasets = _datasets(env.con, version=2)
        a = answer("北片的维修费用", datasets, env.run, today=TODAY, table="维修记录")
        assert a.status == "ok" and a.rows == [(40.0,)]
    finally:
        env.con.execute('DELETE FROM "维修记录" WHERE "片区" = \'北片\'')


@pytest.mark.parametrize(("puts", "gets", "kept"), [
    # (key, size) in order; keys read back (refreshing them) after the puts; keys still held
    ([("a", 4), ("b", 4), ("c", 4)], [], {"b", "c"}),              # 12 > 10: the oldest goes
    ([("a", 4), ("b", 4), ("c", 4)], ["a"], {"a", "c"}),          # reading "a" made "b" the oldest
    ([("a", 4), ("b", 4), ("x", 0)], ["a"], {"a", "b", "x"}),       # an empty list still costs 1
    ([("a", 3), ("b", 3), ("c", 3), ("d", 3)], [], {"b", "c", "d"}),
    ([("big", 50)], [], {"big"}),                                   # one oversized entry is kept alone
])
def test_value_cache_is_bounded_by_size(puts: list[tuple[str, int]], gets: list[str], kept: set[str]) -> None:
    from citybi.nlq.vocab import SizedLRU
    lru = SizedLRU(10, len)
    for key, size in puts[:2]:
        lru.put(key, ["v"] * size)
    for key in gets:
        assert lru.get(key) is not None
    for key, size in puts[2:]:
        lru.put(key, ["v"] * size)
    assert set(lru.items) == kept
    assert lru.total == sum(max(1, s) for k, s in puts if k in kept)


@pytest.mark.parametrize(("engine", "later_s", "queries"), [
    # a dataset's values are read once; a live dataset's again once LIVE_VALUES_TTL_S has passed
    ("duckdb", 10_000.0, 1),
    ("postgres", 10.0, 1),
    ("postgres", 601.0, 2),
])
def test_live_dataset_values_are_relearned_after_their_time_to_live(
        monkeypatch: pytest.MonkeyPatch, engine: str, later_s: float, queries: int) -> None:
    import dataclasses
    import datetime as dt

    from citybi.nlq import vocab
    from citybi.schema import ColumnInfo, DatasetInfo

    now = [1000.0]
    monkeypatch.setattr(vocab.time, "monotonic", lambda: now[0])
    col = ColumnInfo(name="区", type="text", duckdb_type="VARCHAR")
    ds = DatasetInfo(name=f"ttl_{engine}_{later_s}", display_name="t", description="", columns=(col,),
                     row_count=3, version=1, updated_at=dt.datetime(2026, 1, 1))
    calls: list[int] = []

    @dataclasses.dataclass
    class Result:
        rows: list[tuple[str]]
        engine: str

    def execute(tree: Any) -> Result:
        calls.append(1)
        return Result([("临江区",), ("北港区",)], engine)

    assert vocab.learn_values(ds, col, execute) == ["临江区", "北港区"]
    assert vocab.build_vocabulary(ds, execute).values["区"] == ["临江区", "北港区"]
    now[0] += later_s
    vocab.learn_values(ds, col, execute)
    vocab.build_vocabulary(ds, execute)
    assert len(calls) == queries
