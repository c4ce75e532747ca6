"""Warehouse and catalog: lock-down, the query door, versions, and all-or-nothing writes."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
import sqlglot
from sqlglot import exp

from citybi.catalog import Catalog, open_warehouse
from citybi.errors import NotFound, QueryRejected, UserFacingError
from citybi.warehouse import Warehouse

T = "环卫清运"


def _frame(tons: list[float], days: list[int] | None = None) -> pl.DataFrame:
    days = days or list(range(1, len(tons) + 1))
    return pl.DataFrame({
        "日期": [dt.date(2024, 1, d) for d in days],
        "区": [f"区{d}" for d in days],
        "清运量（吨）": tons,
    })


def _table(name: str = T) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name, quoted=True))


@pytest.fixture()
def wh(tmp_path: Path) -> Warehouse:
    w = open_warehouse(path=tmp_path / "w.duckdb")
    yield w
    w.close()


def _rows(wh: Warehouse, name: str = T) -> list[tuple]:
    return wh.run(exp.select("*").from_(_table(name)).order_by(exp.column("日期", quoted=True))).rows


def test_create_replace_append_restore(wh: Warehouse) -> None:
    cat = Catalog(wh)
    cat.write(T, _frame([1.0, 2.0]), units={"清运量（吨）": "吨"})
    assert cat.get(T).column("清运量（吨）").unit == "吨"
    cat.write(T, _frame([10.0, 20.0]), mode="replace")
    assert [r[2] for r in _rows(wh)] == [10.0, 20.0]
    res = cat.write(T, _frame([99.0, 3.0], days=[2, 3]), mode="append", key_columns=["日期"])
    assert (res.rows_added, res.rows_updated, res.rows_written) == (1, 1, 3)
    assert [r[2] for r in _rows(wh)] == [10.0, 99.0, 3.0]
    assert [(v.version, v.current) for v in cat.versions(T)] == [(3, True), (2, False), (1, False)]
    cat.restore(T, 1)
    assert [r[2] for r in _rows(wh)] == [1.0, 2.0]
    assert cat.get(T).version == 1


def test_a_new_version_exports_its_frame_once(wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB learns the staged frame's types from its schema, not from a second export of every row."""
    import citybi.catalog as catalog

    exports: list[int] = []
    real = catalog._ArrowStream.__arrow_c_stream__

    def counted(self: object, requested_schema: object | None = None) -> object:
        exports.append(1)
        return real(self, requested_schema)  # type: ignore[arg-type]

    monkeypatch.setattr(catalog._ArrowStream, "__arrow_c_stream__", counted)
    frame = pl.DataFrame({"日期": [dt.date(2024, 1, 1), None], "区": ["南湖区", None], "清运量（吨）": [1.5, None],
                          "车次": [3, None], "已办结": [True, None],
                          "受理时间": [dt.datetime(2024, 1, 1, 8, 30), None]})
    Catalog(wh).write(T, frame)
    assert len(exports) == 1
    got = wh.run(exp.select("*").from_(_table())).frame
    assert got.equals(frame.with_columns(pl.col("区").cast(pl.String)))


@pytest.mark.parametrize(
    ("new", "message"),
    [
        (pl.DataFrame({"日期": [dt.date(2024, 1, 1)], "区": ["a"]}), "缺少列"),
        (pl.DataFrame({"日期": [dt.date(2024, 1, 1)], "区": ["a"], "清运量（吨）": [1.0], "x": [1]}), "多出列"),
        (pl.DataFrame({"日期": ["2024-01-01"], "区": ["a"], "清运量（吨）": [1.0]}), "类型不一致"),
    ],
)
def test_append_schema_mismatch_is_refused_and_changes_nothing(wh: Warehouse, new: pl.DataFrame, message: str) -> None:
    cat = Catalog(wh)
    cat.write(T, _frame([1.0]))
    with pytest.raises(UserFacingError, match=message):
        cat.write(T, new, mode="append")
    assert cat.get(T).version == 1 and len(_rows(wh)) == 1


def test_failure_mid_write_leaves_previous_version_intact(wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    cat = Catalog(wh)
    cat.write(T, _frame([1.0, 2.0]))

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("disk full (simulated)")

    # fails after the new version table and the view were created, before the catalog commit
    monkeypatch.setattr(Catalog, "_prune", boom)
    with pytest.raises(RuntimeError):
        cat.write(T, _frame([7.0, 8.0, 9.0]), mode="replace")
    monkeypatch.undo()
    assert [r[2] for r in _rows(wh)] == [1.0, 2.0]
    assert [v.version for v in cat.versions(T)] == [1]
    leftovers = wh.cursor().execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = '_citybi' AND table_name LIKE 'ds_%'"
    ).fetchall()
    assert leftovers == [("ds_1_v1",)]


def test_failed_create_leaves_no_dataset(wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    cat = Catalog(wh)
    monkeypatch.setattr(Catalog, "_prune", lambda *_a, **_k: (_ for _ in ()).throw(RuntimeError("x")))
    with pytest.raises(RuntimeError):
        cat.write(T, _frame([1.0]))
    monkeypatch.undo()
    assert cat.names() == []


def test_create_existing_and_append_missing_are_refused(wh: Warehouse) -> None:
    cat = Catalog(wh)
    cat.write(T, _frame([1.0]))
    with pytest.raises(UserFacingError, match="已存在"):
        cat.write(T, _frame([1.0]))
    with pytest.raises(NotFound):
        cat.write("不存在的表", _frame([1.0]), mode="append")


def test_old_versions_are_pruned_but_current_kept(tmp_path: Path) -> None:
    from dataclasses import replace

    from citybi.config import load_settings

    w = open_warehouse(replace(load_settings(tmp_path / "p.duckdb"), keep_versions=2))
    cat = Catalog(w)
    for i in range(4):
        cat.write(T, _frame([float(i)]), mode="replace")
    assert [v.version for v in cat.versions(T)] == [4, 3]
    w.close()


def test_delete_removes_view_and_versions(wh: Warehouse) -> None:
    cat = Catalog(wh)
    cat.write(T, _frame([1.0]))
    cat.write(T, _frame([2.0]), mode="replace")
    cat.delete(T)
    assert cat.names() == []
    left = wh.cursor().execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema IN ('main', '_citybi') "
        "AND table_name NOT IN ('datasets', 'versions', 'source_quarantine', 'dictionaries', 'dataset_rules',"
        " 'source_runs', 'source_state', 'users', 'sessions', 'audit', 'audit_meta', 'dataset_governance',"
        " 'alert_firings', 'alert_state', 'alert_checks', 'metrics', 'live_datasets', 'login_failures',"
        " 'quality_reports')"
    ).fetchone()[0]
    assert left == 0


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM _citybi.datasets",
        "SELECT * FROM query('SELECT 1')",
        "SELECT * FROM 不存在的表",
        "DROP TABLE 环卫清运",
        "INSERT INTO 环卫清运 VALUES (1, 2, 3)",
        "SELECT getenv('HOME')",
    ],
)
def test_query_door_refuses(wh: Warehouse, sql: str) -> None:
    Catalog(wh).write(T, _frame([1.0]))
    with pytest.raises(QueryRejected):
        wh.run(sqlglot.parse_one(sql, dialect="duckdb"))


@pytest.mark.parametrize(
    "stmt",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "COPY (SELECT 1) TO '/tmp/citybi_should_not_exist.csv'",
        "SET enable_external_access = true",
        "INSTALL httpfs",
        "ATTACH '/tmp/x.duckdb' AS x",
    ],
)
def test_connection_itself_is_locked_down(wh: Warehouse, stmt: str) -> None:
    """Even raw SQL on the shared connection cannot reach files or change settings."""
    import duckdb

    with pytest.raises(duckdb.Error):
        wh.cursor().execute(stmt)


def test_row_limit_and_truncation_flag(wh: Warehouse) -> None:
    Catalog(wh).write(T, _frame([float(i) for i in range(1, 11)]))
    res = wh.run(exp.select("*").from_(_table()), max_rows=4)
    assert res.truncated and len(res.rows) == 4
    res = wh.run(exp.select("*").from_(_table()).limit(3), max_rows=4)
    assert not res.truncated and len(res.rows) == 3


def test_timeout_interrupts_long_query(wh: Warehouse) -> None:
    Catalog(wh).write(T, _frame([1.0]))
    big = exp.select(exp.Count(this=exp.Star())).from_(
        exp.Table(this=exp.Anonymous(this="range", expressions=[exp.Literal.number(10**12)])))
    # range() is a table function: refused outright, never run
    with pytest.raises(QueryRejected):
        wh.run(big, timeout_s=0.2)
    cross = sqlglot.parse_one(
        "SELECT count(*) FROM 环卫清运 a, 环卫清运 b, 环卫清运 c, 环卫清运 d, 环卫清运 e, 环卫清运 f, 环卫清运 g",
        dialect="duckdb")
    Catalog(wh).write(T, _frame([float(i) for i in range(1, 29)], days=list(range(1, 29))), mode="replace")
    with pytest.raises(QueryRejected, match="秒"):
        wh.run(cross, timeout_s=0.3)


def _physical_types(wh: Warehouse, name: str) -> list[tuple[str, str]]:
    cur = wh.cursor()
    try:
        return cur.execute(
            "SELECT c.column_name, c.data_type FROM information_schema.columns c JOIN _citybi.versions v "
            "ON c.table_schema = '_citybi' AND c.table_name = v.physical JOIN _citybi.datasets d "
            "ON d.id = v.dataset_id AND d.current_version = v.version WHERE d.name = ? ORDER BY c.ordinal_position",
            [name]).fetchall()
    finally:
        cur.close()


_N = 12_000


@pytest.mark.parametrize(("column", "stored"), [
    (["南湖区", "秀洲区", "O'Brien区", None] * (_N // 4), "ENUM('O''Brien区', '南湖区', '秀洲区')"),
    ([f"类{i % 2000}" for i in range(_N)], "ENUM"),  # 2,000 values: still few enough
    ([f"类{i % 2001}" for i in range(_N)], "VARCHAR"),  # one more: stays text
    ([None] * _N, "VARCHAR"),
    (["", "空白前"] * (_N // 2), "ENUM('', '空白前')"),
], ids=["nulls-and-quote", "2000-values", "2001-values", "all-null", "empty-string"])
def test_a_new_version_is_encoded_at_once_as_encoding_after_would(wh: Warehouse, column: list[str | None],
                                                                   stored: str) -> None:
    frame = pl.DataFrame({"值": list(range(_N)), "类别": pl.Series(column, dtype=pl.String)})
    cat = Catalog(wh)
    cat.write("一次写成", frame)  # created: its ENUMs chosen from the frame, written in one pass
    cat.write("追加写成", frame.head(0))  # appended: the ENUMs chosen after, from the written rows
    cat.write("追加写成", frame, mode="append")
    cat.write("替换写成", frame.head(10))
    cat.write("替换写成", frame, mode="replace")
    once = _physical_types(wh, "一次写成")
    assert once == _physical_types(wh, "追加写成") == _physical_types(wh, "替换写成")
    assert once[1][1].startswith(stored)
    cur = wh.cursor()
    rows = [cur.execute(f'SELECT "值", "类别"::VARCHAR FROM "{n}" ORDER BY "值"').fetchall()
            for n in ("一次写成", "追加写成", "替换写成")]
    cur.close()
    assert rows[0] == rows[1] == rows[2] and [r[1] for r in rows[0]] == column


_BIG = 90_000  # over 4 × 20,000 rows: the ENUM choice first rules out many-valued columns on the first rows


@pytest.mark.parametrize(("column", "stored"), [
    ([f"类{i % 7}" for i in range(_BIG)], "ENUM"),
    ([f"类{i % 3000}" for i in range(_BIG)], "VARCHAR"),  # many values in the first rows already
    ([f"类{i % 3 if i < 20_000 else i % 5000}" for i in range(_BIG)], "VARCHAR"),  # few at first, many later
    ([f"类{i % 10 if i < 20_000 else i % 2000}" for i in range(_BIG)], "ENUM"),  # 2,000 values, most late
], ids=["few", "many-at-once", "many-later", "2000-values-later"])
def test_a_big_version_is_encoded_at_once_as_encoding_after_would(wh: Warehouse, column: list[str],
                                                                   stored: str) -> None:
    frame = pl.DataFrame({"值": list(range(_BIG)), "类别": pl.Series(column, dtype=pl.String)})
    cat = Catalog(wh)
    cat.write("一次写成", frame)
    cat.write("追加写成", frame.head(0))
    cat.write("追加写成", frame, mode="append")
    once = _physical_types(wh, "一次写成")
    assert once == _physical_types(wh, "追加写成")
    assert once[1][1].startswith(stored)


def test_big_low_cardinality_text_is_dictionary_encoded_and_appends_new_values(wh: Warehouse) -> None:
    n = 12_000
    frame = pl.DataFrame({
        "区": [["南湖区", "秀洲区", "O'Brien区"][i % 3] for i in range(n)],
        "编号": [f"GD{i:06d}" for i in range(n)],
        "值": [float(i) for i in range(n)],
    })
    cat = Catalog(wh)
    cat.write("大表", frame)
    types = dict(wh.cursor().execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'ds_1_v1'").fetchall())
    assert types["区"].startswith("ENUM") and types["编号"] == "VARCHAR"
    assert cat.get("大表").column("区").type == "text"
    q = exp.select(exp.Count(this=exp.Star())).from_(_table("大表"))
    assert wh.run(q.where(exp.column("区", quoted=True).eq(exp.Literal.string("不存在区")))).rows == [(0,)]
    assert wh.run(q.where(exp.column("区", quoted=True).eq(exp.Literal.string("南湖区")))).rows == [(4_000,)]
    extra = pl.DataFrame({"区": ["新区"], "编号": ["GDX"], "值": [1.0]})
    cat.write("大表", extra, mode="append")
    assert wh.run(q.where(exp.column("区", quoted=True).eq(exp.Literal.string("新区")))).rows == [(1,)]
    top = wh.run(exp.select(exp.Max(this=exp.column("区", quoted=True))).from_(_table("大表"))).rows[0][0]
    assert top == max(["南湖区", "秀洲区", "O'Brien区", "新区"])
