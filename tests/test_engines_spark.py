"""Live datasets on Apache Spark: local mode (spark://local[N]) and Spark Connect (sc://host:port).

Dialect fidelity on a small table (each construct: the same rows as DuckDB), KPI grains with 同比/环比,
the time-out (the job group is cancelled), the row cap, Chinese refusals for what Spark cannot run,
linking (Spark catalog names, the Parquet folder that survives a restart, the CLI filling in the
folder next to the warehouse), and the same query through a Spark Connect server started from the
pyspark package. One local Spark session serves the whole test process (citybi.engines.spark).
"""
from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import sqlglot

from citybi.catalog import Catalog, open_warehouse
from citybi.charts.cache import ResultCache
from citybi.charts.runner import run_chart
from citybi.charts.spec import load_spec
from citybi.datasets_link import link
from citybi.engines import engine_for, location
from citybi.engines.spark import SparkEngine, local_url, parse_url, stop, write_table
from citybi.errors import QueryRejected, UserFacingError
from citybi.warehouse import Warehouse

pyspark = pytest.importorskip("pyspark")
pytestmark = pytest.mark.service

NAME = "环卫清运"
TABLE = "citybi_t.sanitation"
TODAY = dt.date(2024, 5, 17)
D = dt.date
FRAME = pl.DataFrame({
    "日期": [D(2024, 5, 6), D(2024, 5, 7), D(2024, 5, 7), D(2024, 5, 13), D(2024, 4, 15), D(2024, 4, 16),
           D(2023, 5, 8), D(2024, 5, 14)],
    "区": ["临江区", "临江区", "青山区", "青山区", "临江区", "青山区", "临江区", "青山区"],
    "垃圾类型": ["厨余垃圾", "其他垃圾", "厨余垃圾", "可回收物", "其他垃圾", "其他垃圾", "厨余垃圾", "厨余垃圾"],
    "清运量": [10.0, 12.5, 8.0, 6.0, 20.0, 5.0, 7.0, 9.0],
    "车次": [1, 2, 1, 1, 3, 1, 1, 2],
})


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("spark-warehouse")


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    wh = open_warehouse(path=tmp_path_factory.mktemp("duck") / "d.duckdb")
    Catalog(wh).write(NAME, FRAME)
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, folder: Path) -> Iterator[Warehouse]:
    write_table(local_url(2, folder), TABLE, FRAME)
    wh = open_warehouse(path=tmp_path_factory.mktemp("live") / "l.duckdb")
    link(Catalog(wh), NAME, local_url(2, folder), TABLE)
    yield wh
    wh.close()


def _sorted(frame: pl.DataFrame) -> list[tuple]:
    def norm(v: object) -> object:
        if isinstance(v, float):
            return round(v, 6)
        return v.date() if isinstance(v, dt.datetime) and v.time() == dt.time() else v
    return sorted((tuple(norm(v) for v in r) for r in frame.rows()), key=str)


@pytest.mark.parametrize(("url", "parsed"), [
    ("spark://local[2]", ("local", "local[2]", None)),
    ("spark://local[*]?warehouse=/data/sw", ("local", "local[*]", Path("/data/sw"))),
    ("spark://local", ("local", "local[1]", None)),
    ("sc://spark-gw.city.gov:15002", ("connect", "sc://spark-gw.city.gov:15002", None)),
])
def test_parse_url(url: str, parsed: tuple) -> None:
    assert parse_url(url) == parsed


@pytest.mark.parametrize(("url", "word"), [
    ("spark://master.city.gov:7077", "sc://"),  # a standalone master: use its Spark Connect address
    ("sc://admin:pw@gw:15002", "密码"),
])
def test_bad_urls_are_refused_in_chinese(url: str, word: str) -> None:
    with pytest.raises(QueryRejected) as err:
        engine_for(url)
    assert word in err.value.message + (err.value.hint or "")



def test_a_server_without_the_spark_extra_says_how_to_add_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from citybi.engines import spark

    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # as if pyspark were not installed
    with pytest.raises(QueryRejected) as err:
        spark._session("local", "local[1]", None, None)
    assert "没有安装 Spark 支持" in err.value.message and "citybi[spark]" in (err.value.hint or "")

def test_link_reads_spark_types(live: Warehouse, folder: Path) -> None:
    info = Catalog(live).get(NAME)
    assert [(c.name, c.type) for c in info.columns] == [
        ("日期", "date"), ("区", "text"), ("垃圾类型", "text"), ("清运量", "number"), ("车次", "integer")]
    assert "本机 Spark local[2]" in location(Catalog(live).live_target(NAME))
    assert info.row_count == FRAME.height  # counted once at link time: 问数 tells lookup columns by it


QUERIES = [
    'SELECT "区", SUM("清运量") AS t FROM "环卫清运" GROUP BY "区"',
    'SELECT COUNT(DISTINCT "垃圾类型") AS n FROM "环卫清运"',
    'SELECT "垃圾类型", COUNT(*) FILTER (WHERE "清运量" > 8) AS n FROM "环卫清运" GROUP BY 1',
    'SELECT DATE_TRUNC(\'month\', "日期") AS m, SUM("清运量") FROM "环卫清运" GROUP BY 1',
    'SELECT DATE_TRUNC(\'week\', "日期") AS w, SUM("清运量") FROM "环卫清运" GROUP BY 1',
    'SELECT DATE_TRUNC(\'quarter\', "日期") AS q, SUM("清运量") FROM "环卫清运" GROUP BY 1',
    'SELECT "区", SUM("清运量") / COUNT(*) AS avg FROM "环卫清运" AS h '
    'WHERE h."日期" >= DATE \'2024-05-01\' GROUP BY 1',
    'SELECT "区", SUM("清运量") AS t FROM "环卫清运" GROUP BY 1 ORDER BY t DESC LIMIT 1',
    'SELECT * FROM "环卫清运" WHERE "垃圾类型" = \'厨余垃圾\' AND "清运量" > 7.5',
    'SELECT COUNT(*) FILTER (WHERE "区" = \'临江区\') / COUNT(*) AS share FROM "环卫清运" WHERE "清运量" > 7',
    'SELECT "区" || \'-\' || "垃圾类型" AS k, MAX("清运量") FROM "环卫清运" GROUP BY 1',
    'SELECT SUM("车次") / SUM("清运量") AS per_ton, AVG("车次") FROM "环卫清运"',  # integer / double, AVG of ints
    'SELECT "日期" + INTERVAL 7 DAY AS d, "清运量" FROM "环卫清运" WHERE "日期" BETWEEN DATE \'2024-05-01\' '
    'AND DATE \'2024-05-31\' - INTERVAL 1 MONTH + INTERVAL 1 MONTH',
    'SELECT EXTRACT(year FROM "日期") AS y, COUNT(*) FROM "环卫清运" GROUP BY 1',
]


@pytest.mark.parametrize("sql", QUERIES)
def test_same_rows_as_duckdb(duck: Warehouse, live: Warehouse, sql: str) -> None:
    tree = sqlglot.parse_one(sql, dialect="duckdb")
    want, got = duck.run(tree), live.run(tree)
    assert got.engine == "spark"
    assert _sorted(got.frame) == _sorted(want.frame)


def test_params_are_bound_as_literals(duck: Warehouse, live: Warehouse) -> None:
    tree = sqlglot.parse_one('SELECT COUNT(*) FROM "环卫清运" WHERE "区" = ? AND "清运量" > ?', dialect="duckdb")
    assert live.run(tree, params=["临江区", 9.0]).rows == duck.run(tree, params=["临江区", 9.0]).rows == [(3,)]


def test_duplicate_column_names_do_not_break(live: Warehouse) -> None:
    r = live.run(sqlglot.parse_one('SELECT COUNT(*), COUNT(*) FROM "环卫清运"', dialect="duckdb"))
    assert (r.columns, r.rows) == (["count(1)", "count(1)_1"], [(8, 8)])


def test_row_cap_holds_on_the_engine(live: Warehouse) -> None:
    r = live.run(sqlglot.parse_one('SELECT * FROM "环卫清运"', dialect="duckdb"), max_rows=3)
    assert (r.frame.height, r.truncated) == (3, True)


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


@pytest.mark.parametrize(("sql", "said"), [
    # DuckDB gives inf, Spark (ANSI) an error: a refusal, never a number
    ('SELECT SUM("清运量") / 0 FROM "环卫清运"', "Spark 执行查询失败：除数为 0"),
    ('SELECT CAST("区" AS INTEGER) FROM "环卫清运"', "Spark 执行查询失败：有值无法转换类型"),
    # sqlglot has no Spark form for these: refused before Spark sees them
    ('SELECT ARG_MAX("区", "清运量", "车次", "日期") FROM "环卫清运"', "spark 引擎无法等价执行"),
])
def test_what_spark_cannot_run_is_a_chinese_refusal(live: Warehouse, sql: str, said: str) -> None:
    with pytest.raises(QueryRejected) as err:
        live.run(sqlglot.parse_one(sql, dialect="duckdb"))
    assert said in err.value.message


def test_door_refuses_on_a_spark_dataset(live: Warehouse) -> None:
    with pytest.raises(QueryRejected, match="表函数"):
        live.run(sqlglot.parse_one("SELECT * FROM read_parquet('/etc/passwd')", dialect="duckdb"))


# 400 tasks of 10M rows each: minutes to the end on two cores, so only a cancel ends it early
SLOW = "SELECT SUM(id % 7) FROM range(0, 4000000000, 1, 400)"


def test_timeout_cancels_the_spark_job(folder: Path) -> None:
    engine = SparkEngine(local_url(2, folder))
    engine.run("SELECT 1 AS one", None, 10, 60)  # the session is up: the time below is the query's
    t = time.perf_counter()
    with pytest.raises(QueryRejected, match="秒未完成"):
        engine.run(SLOW, None, 10, 1.0)
    assert time.perf_counter() - t < 20  # cancelled, not run to the end
    assert engine.run("SELECT 1 AS one", None, 10, 30).rows() == [(1,)]  # the session is still usable


def test_a_parquet_folder_is_a_table_after_a_restart(tmp_path: Path) -> None:
    # what a restart sees: a folder DB.db/TABLE of Parquet files that this session's catalog has never held
    (tmp_path / "sw" / "archive.db" / "trips_2023").mkdir(parents=True)
    FRAME.write_parquet(tmp_path / "sw" / "archive.db" / "trips_2023" / "part-0.parquet")
    with open_warehouse(path=tmp_path / "w.duckdb") as wh:
        link(Catalog(wh), "历年清运", local_url(1, tmp_path / "sw"), "archive.trips_2023")
        r = wh.run(sqlglot.parse_one('SELECT SUM("清运量") FROM "历年清运"', dialect="duckdb"))
        assert r.rows == [(pytest.approx(77.5),)]


def test_cli_link_puts_the_spark_folder_next_to_the_warehouse(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from citybi.cli import main

    sw = tmp_path / "spark-warehouse" / "citybi_cli.db" / "sanitation"
    sw.mkdir(parents=True)
    FRAME.write_parquet(sw / "part-0.parquet")
    db = tmp_path / "cli.duckdb"
    assert main(["datasets", "link", "实时清运", "--engine", "spark://local[2]", "--source-table",
                 "citybi_cli.sanitation", "--db", str(db)]) == 0
    assert "已链接实时数据集「实时清运」" in capsys.readouterr().out
    with open_warehouse(path=db) as wh:
        target = Catalog(wh).live_target("实时清运")
        assert target is not None and parse_url(target.engine_url)[2] == (tmp_path / "spark-warehouse").resolve()
        r = wh.run(sqlglot.parse_one('SELECT COUNT(*) FROM "实时清运"', dialect="duckdb"))
        assert r.rows == [(8,)]


@pytest.mark.parametrize(("table", "word"), [
    ("no_such_db.t", "找不到表"),
    ("a.b.c", "源表名"),
])
def test_cli_link_refuses_what_it_cannot_read(tmp_path: Path, table: str, word: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from citybi.cli import main

    code = main(["datasets", "link", "x", "--engine", "spark://local[2]", "--source-table", table,
                 "--db", str(tmp_path / "w.duckdb")])
    assert code != 0 and word in capsys.readouterr().err


def test_a_chinese_spark_table_name_is_refused_in_chinese(folder: Path) -> None:
    with pytest.raises(UserFacingError):
        write_table(local_url(2, folder), "清运", FRAME)


# ---------------------------------------------------------------- Spark Connect (sc://), from the package
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server started from the pyspark package (sbin/start-connect-server.sh), offline."""
    home = Path(pyspark.__file__).parent
    work = tmp_path_factory.mktemp("connect")
    port = _free_port()
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOG_DIR": str(work), "SPARK_PID_DIR": str(work),
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    start = subprocess.run(["bash", str(home / "sbin" / "start-connect-server.sh"), "--master", "local[1]",
                            "--conf", f"spark.connect.grpc.binding.port={port}", "--conf", "spark.ui.enabled=false",
                            "--conf", "spark.sql.shuffle.partitions=2",
                            "--conf", f"spark.sql.warehouse.dir={work / 'sw'}"],
                           env=env, capture_output=True, text=True, timeout=60)
    if start.returncode != 0:
        pytest.skip(f"Spark Connect server did not start: {start.stderr[-500:]}")
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(1)
        else:
            pytest.fail("Spark Connect server did not listen within 180 s")
        yield f"sc://127.0.0.1:{port}"
        stop(f"sc://127.0.0.1:{port}")  # the client first: its threads would wait for a stopped server
    finally:
        subprocess.run(["bash", str(home / "sbin" / "stop-connect-server.sh")], env=env, capture_output=True,
                       timeout=60)


def test_spark_connect_same_rows(duck: Warehouse, connect_url: str, tmp_path: Path) -> None:
    write_table(connect_url, TABLE, FRAME)
    with open_warehouse(path=tmp_path / "c.duckdb") as wh:
        link(Catalog(wh), NAME, connect_url, TABLE)
        assert "Spark Connect 集群" in location(Catalog(wh).live_target(NAME))
        for sql in QUERIES[:6]:
            tree = sqlglot.parse_one(sql, dialect="duckdb")
            assert _sorted(wh.run(tree).frame) == _sorted(duck.run(tree).frame), sql
        with pytest.raises(QueryRejected, match="除数为 0"):
            wh.run(sqlglot.parse_one('SELECT SUM("清运量") / 0 FROM "环卫清运"', dialect="duckdb"))
    engine = SparkEngine(connect_url)
    with pytest.raises(QueryRejected, match="秒未完成"):
        engine.run(SLOW, None, 10, 1.0)
