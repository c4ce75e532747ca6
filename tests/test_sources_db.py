"""PostgreSQL and MariaDB sources against the real servers on this machine (no mocks).

Each test makes its own uniquely named table and drops it afterwards. A server that does not
answer skips here and fails CI (tests/conftest.py); .ci/run starts the services first.
"""
from __future__ import annotations

import decimal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from citybi.catalog import Catalog, open_warehouse
from citybi.errors import UserFacingError
from citybi.secrets import Secret
from citybi.sources import import_source
from citybi.warehouse import Warehouse
from connectors.source import SourceRejected, SourceRequest

pytestmark = pytest.mark.service

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
MY_URL = "mysql://root@127.0.0.1:3306/test"
ROWS = 2_000

# the same sanitation rows in both databases: Chinese names, decimals, dates, NULLs every 7th row
PG_FILL = """INSERT INTO {t} SELECT i, date '2024-01-01' + (i % 90),
  (array['南湖区','秀洲区','嘉善县','平湖市'])[1 + i % 4], (array['厨余垃圾','其他垃圾','可回收物'])[1 + i % 3],
  CASE WHEN i % 7 = 0 THEN NULL ELSE round(((i * 37) % 2000) / 100.0, 2) END,
  timestamptz '2024-01-01 00:00:00+00' + i * interval '1 hour', i % 2 = 0
  FROM generate_series(1, {n}) i"""
PG_TABLE = """CREATE TABLE {t} (id int4 PRIMARY KEY, "日期" date, "区" text, "垃圾类型" varchar(10),
  "清运量（吨）" numeric(10,2), "上报时间" timestamptz, "已核实" boolean)"""
MY_TABLE = """CREATE TABLE {t} (id INT PRIMARY KEY, `日期` DATE, `区` VARCHAR(10), `垃圾类型` VARCHAR(10),
  `清运量（吨）` DECIMAL(10,2), `上报时间` DATETIME, `已核实` BOOLEAN) DEFAULT CHARSET={charset}"""
MY_FILL = """INSERT INTO {t} SELECT seq, DATE('2024-01-01') + INTERVAL (seq % 90) DAY,
  ELT(1 + seq % 4, '南湖区','秀洲区','嘉善县','平湖市'), ELT(1 + seq % 3, '厨余垃圾','其他垃圾','可回收物'),
  IF(seq % 7 = 0, NULL, ROUND(((seq * 37) % 2000) / 100.0, 2)),
  TIMESTAMP('2024-01-01 08:00:00') + INTERVAL seq HOUR, seq % 2 = 0 FROM seq_1_to_{n}"""


def _name() -> str:
    return f"citybi_t_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def pg() -> Iterator[Any]:
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as err:
        pytest.skip(f"PostgreSQL 127.0.0.1:5432 does not answer: {err}")
    made: list[str] = []
    conn.made = made  # type: ignore[attr-defined]
    yield conn
    for t in made:
        conn.execute(f'DROP TABLE IF EXISTS "{t}"')
    conn.close()


@pytest.fixture
def my() -> Iterator[Any]:
    import pymysql

    try:
        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database="test",
                               charset="utf8mb4", autocommit=True, connect_timeout=3)
    except pymysql.err.OperationalError as err:
        pytest.skip(f"MariaDB 127.0.0.1:3306 does not answer: {err}")
    made: list[str] = []
    conn.made = made  # type: ignore[attr-defined]
    yield conn
    with conn.cursor() as cur:
        for t in made:
            cur.execute(f"DROP TABLE IF EXISTS `{t}`")
    conn.close()


def _pg_table(pg: Any, n: int = ROWS) -> str:
    return _pg_own(pg, PG_TABLE, PG_FILL.replace("{n}", str(n)))


def _pg_own(pg: Any, create: str, fill: str) -> str:
    """A uniquely named table of this test's (dropped afterwards): `create` then `fill`, {t} its name
    (replaced, not str.format: the values hold braces, '{1,2}' arrays and JSON)."""
    t = _name()
    pg.made.append(t)
    pg.execute(create.replace("{t}", t))
    pg.execute(fill.replace("{t}", t))
    return t


def _my_table(my: Any, n: int = ROWS, charset: str = "utf8mb4") -> str:
    t = _name()
    my.made.append(t)
    with my.cursor() as cur:
        cur.execute(MY_TABLE.format(t=t, charset=charset))
        cur.execute(MY_FILL.format(t=t, n=n))
    return t


def _server_totals(rows: list[tuple[Any, ...]]) -> tuple[int, decimal.Decimal, int, int]:
    count, total, nulls, districts = rows[0]
    return int(count), decimal.Decimal(total), int(nulls), int(districts)


TOTALS = ('SELECT count(*), sum("清运量（吨）"), count(*) - count("清运量（吨）"), count(DISTINCT "区") FROM {t}')


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = open_warehouse(path=tmp_path / "w.duckdb")
    yield w
    w.close()


def _warehouse_totals(wh: Warehouse, table: str) -> tuple[int, decimal.Decimal, int, int]:
    cur = wh.cursor()
    try:
        return _server_totals(cur.execute(TOTALS.format(t=f'"{table}"')).fetchall())
    finally:
        cur.close()


# ------------------------------------------------------------------ the same rows, exactly
@pytest.mark.parametrize("db", ["postgresql", "mariadb-utf8mb4", "mariadb-gbk"])
def test_table_lands_exactly(db: str, request: pytest.FixtureRequest, wh: Warehouse) -> None:
    if db == "postgresql":
        pg = request.getfixturevalue("pg")
        t = _pg_table(pg)
        expected = _server_totals(pg.execute(TOTALS.format(t=t)).fetchall())
        url = PG_URL
    else:
        my = request.getfixturevalue("my")
        t = _my_table(my, charset=db.split("-")[1])
        with my.cursor() as cur:
            cur.execute(TOTALS.format(t=t).replace('"', "`"))
            expected = _server_totals(cur.fetchall())
        url = MY_URL
    res = import_source(wh, SourceRequest(url=url, table=t), table="环卫清运")
    assert res.write is not None and res.write.rows_written == ROWS
    assert _warehouse_totals(wh, "环卫清运") == expected
    assert expected[0] == ROWS and expected[2] == ROWS // 7 and expected[3] == 4


@pytest.mark.parametrize("db", ["postgresql", "mariadb"])
def test_type_mapping(db: str, request: pytest.FixtureRequest, wh: Warehouse) -> None:
    if db == "postgresql":
        t = _pg_table(request.getfixturevalue("pg"), 20)
        url = PG_URL
    else:
        t = _my_table(request.getfixturevalue("my"), 20)
        url = MY_URL
    import_source(wh, SourceRequest(url=url, table=t), table="环卫")
    info = Catalog(wh).get("环卫")
    got = {c.name: (c.type, c.duckdb_type) for c in info.columns}
    assert got == {
        "id": ("integer", "BIGINT"),
        "日期": ("date", "DATE"),
        "区": ("text", "VARCHAR"),
        "垃圾类型": ("text", "VARCHAR"),
        "清运量（吨）": ("number", "DECIMAL(10,2)" if db == "postgresql" else "DECIMAL(12,2)"),
        "上报时间": ("timestamp", "TIMESTAMP"),
        "已核实": ("boolean", "BOOLEAN"),
    }
    cur = wh.cursor()
    row = cur.execute('SELECT "日期", "区", "清运量（吨）", "上报时间", "已核实" FROM "环卫" WHERE id = 7').fetchall()
    cur.close()
    import datetime as dt

    # row 7: NULL amount; PostgreSQL's 07:00 UTC is 15:00 in Asia/Shanghai, MariaDB's DATETIME
    # (08:00 + 7 h) is as stored — the same clock time for the same reading
    assert row[0] == (dt.date(2024, 1, 8), "平湖市", None, dt.datetime(2024, 1, 1, 15, 0), False)


def test_postgres_types_without_a_declared_scale(pg: Any, wh: Warehouse) -> None:
    t = _pg_own(pg, 'CREATE TABLE {t} (n numeric, r real, big int8, small int2, t time, j jsonb, "说明" text)',
                """INSERT INTO {t} VALUES (1.5, 0.25, 9007199254740993, 3, '08:30', '{"a": 1}', '中文'),
                   (2.125, NULL, NULL, NULL, NULL, NULL, NULL)""")
    res = import_source(wh, SourceRequest(url=PG_URL, query=f"SELECT * FROM {t} ORDER BY n"), table="杂项")
    info = {c.name: c.duckdb_type for c in Catalog(wh).get("杂项").columns}
    assert info["n"] == "DECIMAL(38,3)" and info["r"] == "DOUBLE" and info["big"] == "BIGINT"
    assert info["small"] == "BIGINT" and info["说明"] == "VARCHAR"
    cur = wh.cursor()
    assert cur.execute('SELECT sum(n), max(big), max("说明") FROM "杂项"').fetchall()[0] == (
        decimal.Decimal("3.625"), 9007199254740993, "中文")
    cur.close()
    assert res.write is not None and res.write.rows_written == 2


def test_a_query_joining_two_ids_keeps_both(pg: Any, wh: Warehouse) -> None:
    """SELECT a.id, b.id …: both columns land (the second as id_2), with their own values."""
    t = _pg_table(pg, 20)
    query = (f'SELECT a.id, b.id, b."清运量（吨）" FROM {t} a JOIN {t} b ON b.id = a.id + 1 '
             "WHERE a.id <= 3 ORDER BY a.id")
    import_source(wh, SourceRequest(url=PG_URL, query=query), table="相邻")
    info = {c.name: c.duckdb_type for c in Catalog(wh).get("相邻").columns}
    assert info == {"id": "BIGINT", "id_2": "BIGINT", "清运量（吨）": "DECIMAL(10,2)"}
    cur = wh.cursor()
    assert cur.execute('SELECT id, id_2, "清运量（吨）" FROM "相邻" ORDER BY id').fetchall() == [
        (1, 2, decimal.Decimal("0.74")), (2, 3, decimal.Decimal("1.11")), (3, 4, decimal.Decimal("1.48"))]
    cur.close()


def test_mariadb_names_two_columns_of_one_name(my: Any, wh: Warehouse) -> None:
    """MariaDB refuses them in the derived table CityBI reads through: said in Chinese, with the fix."""
    t = _my_table(my, 20)
    query = f"SELECT a.id, b.id FROM {t} a JOIN {t} b ON b.id = a.id + 1"
    with pytest.raises(SourceRejected, match="查询结果中有重名的列") as err:
        import_source(wh, SourceRequest(url=MY_URL, query=query), table="相邻")
    assert "AS" in err.value.hint
    assert not Catalog(wh).exists("相邻")


# ------------------------------------------------------------------ types connectorx cannot read (it panics)
# PostgreSQL column type → (a value, its text in the warehouse). connectorx ends in a Rust panic on each
# of these (pyo3's PanicException, a BaseException); CityBI reads them as PostgreSQL's own text.
PG_TEXT_TYPES = {
    "interval": ("'1 day 02:00'", "1 day 02:00:00"),
    "money": ("12.5", "$12.50"),
    "point": ("'(120.1,30.2)'", "(120.1,30.2)"),
    "cidr": ("'10.0.0.0/8'", "10.0.0.0/8"),
    "macaddr": ("'08:00:2b:01:02:03'", "08:00:2b:01:02:03"),
    "varbit": ("B'101'", "101"),
    "bit(3)": ("B'101'", "101"),
    "timetz": ("'12:00+08'", "12:00:00+08"),
    "xml": ("'<a>中文</a>'", "<a>中文</a>"),
    "tsvector": ("'a b'", "'a' 'b'"),
    "bytea": ("'\\x0102'", "\\x0102"),
    "date[]": ("'{2024-01-01}'", "{2024-01-01}"),
    "uuid[]": ("'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}"),
    "int4[]": ("'{1,2}'", "{1,2}"),
}


def test_postgres_types_connectorx_cannot_read_land_as_their_text(pg: Any, wh: Warehouse) -> None:
    cols = {f"c{i}": typ for i, typ in enumerate(PG_TEXT_TYPES)}
    t = _pg_own(pg, "CREATE TABLE {t} (id int, " + ", ".join(f"{c} {typ}" for c, typ in cols.items()) + ")",
                "INSERT INTO {t} VALUES (1, " + ", ".join(v for v, _ in PG_TEXT_TYPES.values()) + "), "
                "(2, " + ", ".join("NULL" for _ in cols) + ")")
    res = import_source(wh, SourceRequest(url=PG_URL, table=t), table="杂类")
    assert res.write is not None and res.write.rows_written == 2
    types = {c.name: c.duckdb_type for c in Catalog(wh).get("杂类").columns}
    assert types == {"id": "BIGINT", **dict.fromkeys(cols, "VARCHAR")}
    cur = wh.cursor()
    rows = cur.execute(f'SELECT {", ".join(cols)} FROM "杂类" ORDER BY id').fetchall()
    cur.close()
    assert dict(zip(PG_TEXT_TYPES, rows[0], strict=True)) == {k: text for k, (_, text) in PG_TEXT_TYPES.items()}
    assert rows[1] == (None,) * len(cols)
    assert "列「c0」的类型（interval）在仓库中存为文本。" in res.notes


def test_postgres_two_ids_and_an_interval_keep_their_places(pg: Any, wh: Warehouse) -> None:
    """The columns read as text are picked by position: two result columns of one name stay two."""
    t = _pg_own(pg, "CREATE TABLE {t} (id int, span interval)", "INSERT INTO {t} VALUES (1, '2 hours'), (2, NULL)")
    query = f"SELECT a.id, b.span, b.id FROM {t} a JOIN {t} b ON b.id = a.id ORDER BY a.id"
    import_source(wh, SourceRequest(url=PG_URL, query=query), table="时长")
    cur = wh.cursor()
    assert cur.execute('SELECT id, span, id_2 FROM "时长" ORDER BY id').fetchall() == [(1, "02:00:00", 1),
                                                                                     (2, None, 2)]
    cur.close()


def test_a_postgres_value_connectorx_cannot_convert_names_its_column(pg: Any, wh: Warehouse) -> None:
    t = _pg_own(pg, 'CREATE TABLE {t} (id int, "读数" numeric)', "INSERT INTO {t} VALUES (1, 1.5), (2, 'NaN')")
    with pytest.raises(SourceRejected, match="列「读数」有无法读取的值") as err:
        import_source(wh, SourceRequest(url=PG_URL, table=t), table="读数")
    assert "CAST" in err.value.hint
    assert not Catalog(wh).exists("读数")


def test_mariadb_zero_dates_durations_and_geometry(my: Any, wh: Warehouse) -> None:
    """A legacy table written without strict mode: 0000-00-00 and 2024-00-00 (connectorx panics on
    them) land as NULL, counted in a note; a TIME beyond a day stays its text; a POINT is WKT text;
    BIT(1) is a boolean and BIT(3) its number."""
    import datetime as dt

    t = _name()
    my.made.append(t)
    with my.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute(f"""CREATE TABLE {t} (id INT, `日期` DATE, `时间` DATETIME(6), `戳` TIMESTAMP NULL,
                        `时长` TIME, `位置` POINT, `有效` BIT(1), `标志` BIT(3), `金额` DECIMAL(10,2))""")
        cur.execute(f"""INSERT INTO {t} VALUES
            (1, '2024-01-02', '2024-01-02 03:04:05.250000', '2024-01-02 03:04:05', '12:00:00', POINT(120.1, 30.2),
             b'1', b'101', 1.50),
            (2, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '-838:59:59', NULL, b'0', NULL, NULL),
            (3, '2024-00-00', NULL, NULL, '25:00:00', NULL, NULL, b'0', 2.25)""")
    res = import_source(wh, SourceRequest(url=MY_URL, table=t), table="旧表")
    types = {c.name: c.duckdb_type for c in Catalog(wh).get("旧表").columns}
    assert types == {"id": "BIGINT", "日期": "DATE", "时间": "TIMESTAMP", "戳": "TIMESTAMP", "时长": "VARCHAR",
                     "位置": "VARCHAR", "有效": "BOOLEAN", "标志": "BIGINT", "金额": "DECIMAL(12,2)"}
    cur = wh.cursor()
    got = cur.execute('SELECT * FROM "旧表" ORDER BY id').fetchall()
    cur.close()
    assert got == [
        (1, dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5, 250000), dt.datetime(2024, 1, 2, 3, 4, 5),
         "12:00:00", "POINT(120.1 30.2)", True, 5, decimal.Decimal("1.50")),
        (2, None, None, None, "-838:59:59", None, False, None, None),
        (3, None, None, None, "25:00:00", None, None, 0, decimal.Decimal("2.25")),
    ]
    assert "列「日期」有 2 个值不是有效日期（0000-00-00、2024-00-00），已作为空值导入。" in res.notes
    assert "列「时间」有 1 个值不是有效日期（0000-00-00 00:00:00.000000），已作为空值导入。" in res.notes
    assert "列「位置」的类型（GEOMETRY）在仓库中存为文本（WKT）。" in res.notes


def test_mariadb_source_that_met_a_zero_date_reads_dates_as_text_next_time(my: Any, capfd: pytest.CaptureFixture[str],
                                                                            wh: Warehouse) -> None:
    """The source's state remembers it: a scheduled refresh of a legacy table reads once, without a
    driver panic in the log each time, and lands the same rows."""
    import datetime as dt

    t = _name()
    my.made.append(t)
    with my.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute(f"CREATE TABLE {t} (id INT PRIMARY KEY, `日期` DATE)")
        cur.execute(f"INSERT INTO {t} VALUES (1, '2024-03-01'), (2, '0000-00-00')")
    first = import_source(wh, SourceRequest(url=MY_URL, table=t), table="台账", mode="append", key_columns=["id"])
    assert first.state == {"dates_as_text": True}
    assert "panicked" in capfd.readouterr().err  # connectorx said so on its way out, once
    again = import_source(wh, SourceRequest(url=MY_URL, table=t, state=first.state), table="台账", mode="append",
                          key_columns=["id"])
    assert "panicked" not in capfd.readouterr().err
    assert again.state == {"dates_as_text": True} and again.write is not None
    assert "列「日期」有 1 个值不是有效日期（0000-00-00），已作为空值导入。" in again.notes
    cur = wh.cursor()
    assert cur.execute('SELECT id, "日期" FROM "台账" ORDER BY id').fetchall() == [(1, dt.date(2024, 3, 1)),
                                                                                 (2, None)]
    cur.close()


# ------------------------------------------------------------------ append by key: a re-fetch never doubles
@pytest.mark.parametrize("db", ["postgresql", "mariadb"])
def test_refetch_with_key_never_doubles(db: str, request: pytest.FixtureRequest, wh: Warehouse) -> None:
    if db == "postgresql":
        conn = request.getfixturevalue("pg")
        t = _pg_table(conn, 100)
        run: Callable[[str], None] = conn.execute
        url = PG_URL
    else:
        conn = request.getfixturevalue("my")
        t = _my_table(conn, 100)

        def run(sql: str) -> None:
            with conn.cursor() as cur:
                cur.execute(sql.replace('"', "`"))
        url = MY_URL
    req = SourceRequest(url=url, table=t)
    first = import_source(wh, req, table="清运", mode="append", key_columns=["id"])
    assert first.write is not None and first.write.mode == "create" and first.write.rows_written == 100
    run(f'UPDATE {t} SET "清运量（吨）" = 99.99 WHERE id <= 3')
    run(f'DELETE FROM {t} WHERE id > 90')
    again = import_source(wh, req, table="清运", mode="append", key_columns=["id"])
    assert again.write is not None
    assert (again.write.rows_written, again.write.rows_added, again.write.rows_updated) == (100, 0, 90)
    cur = wh.cursor()
    assert cur.execute('SELECT count(*), count(DISTINCT id), sum(CASE WHEN "清运量（吨）" = 99.99 THEN 1 END) '
                       'FROM "清运"').fetchall()[0] == (100, 100, 3)
    cur.close()


def test_append_widens_a_decimal_rather_than_rounding(pg: Any, wh: Warehouse) -> None:
    t = _pg_own(pg, "CREATE TABLE {t} (id int, v numeric)", "INSERT INTO {t} VALUES (1, 1.5)")
    import_source(wh, SourceRequest(url=PG_URL, table=t), table="宽", mode="append", key_columns=["id"])
    pg.execute(f"INSERT INTO {t} VALUES (2, 2.125)")
    import_source(wh, SourceRequest(url=PG_URL, table=t), table="宽", mode="append", key_columns=["id"])
    cur = wh.cursor()
    assert cur.execute('SELECT sum(v) FROM "宽"').fetchall()[0][0] == decimal.Decimal("3.625")
    cur.close()


# ------------------------------------------------------------------ refusals, before and after connecting
@pytest.mark.parametrize("query", [
    "DELETE FROM t",
    "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
    "SELECT * INTO copy_of_t FROM t",
    "SELECT * FROM t FOR UPDATE",
    "SELECT 1; DROP TABLE t",
    "UPDATE t SET x = 1",
    "CREATE TABLE x AS SELECT 1",
], ids=["delete", "cte-delete", "select-into", "for-update", "two-statements", "update", "create-as"])
@pytest.mark.parametrize("url", [PG_URL, MY_URL], ids=["postgresql", "mariadb"])
def test_only_a_read_only_select_is_run(url: str, query: str, wh: Warehouse) -> None:
    with pytest.raises(SourceRejected) as err:
        import_source(wh, SourceRequest(url=url, query=query), table="x")
    assert "SELECT" in str(err.value)
    assert Catalog(wh).names() == []


@pytest.mark.parametrize(("url", "query", "expected"), [
    ("postgresql://postgres@127.0.0.1:5432/citybi_no_such_db", "SELECT 1", "没有数据库「citybi_no_such_db」"),
    ("postgresql://citybi_no_such_user@127.0.0.1:5432/test", "SELECT 1", "没有用户「citybi_no_such_user」"),
    ("postgresql://postgres@127.0.0.1:1/test", "SELECT 1", "无法连接 PostgreSQL 服务器 127.0.0.1:1"),
    ("postgresql://postgres@no-such-host.invalid:5432/test", "SELECT 1", "找不到主机「no-such-host.invalid」"),
    (PG_URL, "SELECT * FROM citybi_no_such_table", "找不到要读取的表"),
    (PG_URL, "SELECT no_such_column FROM pg_class", "列不存在"),
    ("mysql://root@127.0.0.1:3306/citybi_no_such_db", "SELECT 1", "没有数据库「citybi_no_such_db」"),
    ("mysql://root@127.0.0.1:1/test", "SELECT 1", "无法连接 MySQL 服务器 127.0.0.1:1"),
    (MY_URL, "SELECT * FROM citybi_no_such_table", "找不到要读取的表"),
    (MY_URL, "SELECT no_such_column FROM information_schema.tables", "列不存在"),
    ("postgresql://postgres@127.0.0.1:5432", "SELECT 1", "地址不完整"),
    ("postgresql://postgres:hunter22@127.0.0.1:5432/test", "SELECT 1", "不能写密码"),
    ("ftp://127.0.0.1/x", None, "不认识数据源地址"),
], ids=["pg-db", "pg-user", "pg-port", "pg-host", "pg-table", "pg-column", "my-db", "my-port", "my-table",
        "my-column", "no-database", "password-in-url", "unknown-scheme"])
def test_clear_chinese_message(url: str, query: str | None, expected: str, wh: Warehouse) -> None:
    with pytest.raises(UserFacingError) as err:
        import_source(wh, SourceRequest(url=url, query=query, table="t"), table="x")
    assert expected in str(err.value)
    assert "hunter22" not in str(err.value) + err.value.detail


def test_wrong_password_names_the_user_and_never_the_password(my: Any, wh: Warehouse) -> None:
    secret = Secret("mariadb-root", "Wr0ng-Pa55:w@rd/中文")
    with pytest.raises(SourceRejected) as err:
        import_source(wh, SourceRequest(url=MY_URL, query="SELECT 1", secret=secret), table="x")
    shown = str(err.value) + err.value.detail + repr(err.value)
    assert "拒绝了用户「root」的登录" in str(err.value)
    assert "Wr0ng-Pa55" not in shown and "Wr0ng-Pa55" not in repr(err.value.__cause__)


@pytest.mark.parametrize("url", [PG_URL, MY_URL], ids=["postgresql", "mariadb"])
def test_connection_test_describes_the_query(url: str, request: pytest.FixtureRequest) -> None:
    from connectors.source import source_for

    if url == PG_URL:
        t = _pg_table(request.getfixturevalue("pg"), 5)
    else:
        t = _my_table(request.getfixturevalue("my"), 5)
    said = source_for(url).test(SourceRequest(url=url, table=None, query=f"SELECT * FROM {t}"))
    assert said.startswith("已连接") and "共 7 列" in said and "清运量（吨）" in said


def test_mariadb_probe_keeps_pymysqls_preferred_tls() -> None:
    """The probe's connection builds PyMySQL's "preferred" TLS context without loading the CA bundle
    (connectors.mysql._connection_class): every setting that decides what is verified is PyMySQL's own."""
    import ssl

    import pymysql.connections

    from connectors.mysql import _connection_class

    cls = _connection_class()
    ours = cls._create_ssl_ctx(object.__new__(cls), {})
    theirs = pymysql.connections.Connection._create_ssl_ctx(object.__new__(pymysql.connections.Connection), {})
    for attr in ("verify_mode", "check_hostname", "verify_flags", "protocol", "minimum_version", "options"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert ours.verify_mode == ssl.CERT_NONE and not ours.check_hostname
    assert theirs.cert_store_stats()["x509_ca"] >= 0 and ours.cert_store_stats()["x509_ca"] == 0
    # explicit TLS options still take PyMySQL's path (it verifies against the given CA)
    explicit = cls._create_ssl_ctx(object.__new__(cls), {"verify_mode": True})
    assert explicit.verify_mode == ssl.CERT_REQUIRED
