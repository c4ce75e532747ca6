"""The `spark` engine: a live dataset's query runs on Apache Spark (pyspark 4).

Two kinds of address, because a city meets Spark in two ways:

* `spark://local[N]?warehouse=DIR` — Spark inside this process (N cores), for tests and for a
  department whose tables are Parquet folders too big to copy into the DuckDB file. Spark's own
  catalog lives in memory and forgets its tables when the process ends, so in local mode a table
  IS a Parquet folder: `DIR/TABLE/` (database `default`) or `DIR/DB.db/TABLE/` — exactly where
  `saveAsTable` writes them. Every session registers the folders it finds there, so a link made
  yesterday works after an app restart. `citybi datasets link` fills in DIR as the folder
  `spark-warehouse` next to the DuckDB warehouse file when the URL names none.
* `sc://host:port` — a Spark cluster through Spark Connect (the thin gRPC client; the cluster's
  own catalog — Hive metastore, Unity, Iceberg — says where tables live).

One Spark session per process and address, started on first use and shared: the JVM takes ~25 s
to start here (bench/engines.py), a query on the warm session well under a second on small tables.
Local mode has one session per process: the first local address decides N and where saveAsTable
writes; the folders of later local addresses are registered into the same session. What runs is the
door's accepted tree transpiled by sqlglot (citybi.engines.to_dialect); each query runs under its
own job tag (local) or operation tag (Connect) and a timer cancels it at the time-out; at most
max_rows rows ever come back. Spark SQL runs with ANSI mode on (its default): a division by zero or a bad
cast is an error, and an error is a Chinese refusal, never other numbers.
"""
from __future__ import annotations

import logging
import re
import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import polars as pl
from sqlglot import exp

from citybi.engines.base import unique_names
from citybi.errors import QueryRejected
from citybi.secrets import Secret

_LOCAL = re.compile(r"^local(\[(\d+|\*)\])?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")
_LOCK = threading.Lock()
_SESSIONS: dict[str, Any] = {}  # "local" or "sc://host:port" → the process's session there
_REGISTERED: set[str] = set()  # warehouse folders whose tables the local session already knows

# Spark type name (DataType.typeName()) → (logical type, the DuckDB type the chart and question code expects)
TYPES: dict[str, tuple[str, str]] = {
    "string": ("text", "VARCHAR"), "varchar": ("text", "VARCHAR"), "char": ("text", "VARCHAR"),
    "byte": ("integer", "TINYINT"), "short": ("integer", "SMALLINT"), "integer": ("integer", "INTEGER"),
    "long": ("integer", "BIGINT"), "float": ("number", "FLOAT"), "double": ("number", "DOUBLE"),
    "decimal": ("number", "DOUBLE"), "date": ("date", "DATE"), "timestamp_ntz": ("timestamp", "TIMESTAMP"),
    "timestamp": ("timestamp", "TIMESTAMP WITH TIME ZONE"), "boolean": ("boolean", "BOOLEAN"),
}


def local_url(cores: int | str, warehouse: Path) -> str:
    """The address of a local session over the Parquet tables under `warehouse`."""
    return f"spark://local[{cores}]?warehouse={quote(str(warehouse.resolve()))}"


def parse_url(url: str) -> tuple[str, str | None, Path | None]:
    """(kind "local" or "connect", master or Connect address, warehouse folder) of an engine URL."""
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme == "sc":
        if "@" in rest.split("/")[0] and ":" in rest.split("@")[0]:
            raise QueryRejected("Spark Connect 地址里不能写密码。",
                                hint="请用 citybi secrets set 保存令牌，再用 --secret 指定")
        return "connect", url, None
    where, _, query = rest.partition("?")
    m = _LOCAL.match(where)
    if m is None:
        raise QueryRejected(f"Spark 地址「{url}」无法识别。",
                            hint="本机运行写 spark://local[2]；连接 Spark 集群请用 Spark Connect 地址 sc://主机:15002")
    cores = m.group(2) or "1"
    found = parse_qs(query).get("warehouse")
    return "local", f"local[{cores}]", Path(found[0]) if found else None



def _session(kind: str, where: str, warehouse: Path | None, secret: Secret | None) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # an extra (pyproject.toml [spark]): most cities never link a Spark table
        raise QueryRejected("这台服务器没有安装 Spark 支持，无法查询 Spark 上的数据集。",
                            hint="请安装：pip install 'citybi[spark]'（需要 Java 17）") from None

    key = "local" if kind == "local" else where
    with _LOCK:
        spark = _SESSIONS.get(key)
        if spark is None:
            if kind == "local":
                builder = (SparkSession.builder.master(where).appName("citybi")
                           .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                           # chart queries return a few hundred rows: 200 shuffle partitions (the cluster
                           # default) cost seconds of task start-up on a laptop for nothing
                           .config("spark.sql.shuffle.partitions", "4")
                           .config("spark.sql.session.timeZone", "UTC")
                           # TIMESTAMP means what it means in DuckDB: a wall-clock time, no zone
                           .config("spark.sql.timestampType", "TIMESTAMP_NTZ"))
                if warehouse is not None:
                    builder = builder.config("spark.sql.warehouse.dir", str(warehouse))
                spark = builder.getOrCreate()
                spark.sparkContext.setLogLevel("ERROR")
            else:
                remote = where
                if secret is not None:  # a token for the cluster's gateway, never stored in the URL
                    remote = f"{where}{'&' if ';' in where else '/;'}token={secret.reveal()}"
                # the Connect client logs every failed query with its JVM stack to stderr; the refusal
                # says why in Chinese and keeps Spark's text as its detail
                from pyspark.logger import PySparkLogger

                PySparkLogger.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
                from pyspark.sql.connect.session import SparkSession as ConnectSession

                # the Connect client's own builder: SparkSession.builder.remote() refuses while this
                # process holds a local session (and would switch later local sessions to Connect)
                spark = ConnectSession.builder.remote(remote).create()
                spark.conf.set("spark.sql.session.timeZone", "UTC")
                spark.conf.set("spark.sql.timestampType", "TIMESTAMP_NTZ")
            _SESSIONS[key] = spark
        if kind == "local" and warehouse is not None and str(warehouse) not in _REGISTERED:
            _register_folder(spark, warehouse)
            _REGISTERED.add(str(warehouse))
    return spark


def stop(url: str) -> None:
    """End this process's session for `url` (a Connect client's threads keep retrying a server that
    went away, and Python waits for them at exit: stop the client before its server)."""
    kind, where, _ = parse_url(url)
    with _LOCK:
        spark = _SESSIONS.pop("local" if kind == "local" else where or "", None)
        if kind == "local":
            _REGISTERED.clear()
    if spark is not None:
        spark.stop()


def _register_folder(spark: Any, warehouse: Path) -> None:
    """Make every Parquet table folder under `warehouse` a table of the in-memory catalog again."""
    if not warehouse.is_dir():
        return
    for folder in sorted(warehouse.iterdir()):
        if not folder.is_dir() or not _NAME.match(folder.name.removesuffix(".db")):
            continue  # Spark's catalog takes only ASCII letters, digits and _ as names
        if folder.name.endswith(".db"):
            db = folder.name[:-3]
            spark.catalog.setCurrentDatabase("default")
            if not spark.catalog.databaseExists(db):
                spark.sql(exp.Create(this=exp.to_identifier(db, quoted=True), kind="DATABASE", exists=True)
                          .sql("spark"))
            tables = [(db, t) for t in sorted(folder.iterdir()) if t.is_dir() and _NAME.match(t.name)]
        else:
            tables = [("default", folder)]
        for db, path in tables:
            if not any(path.glob("*.parquet")):
                continue
            name = exp.table_(path.name, db=db, quoted=True).sql("spark")
            if not spark.catalog.tableExists(name):
                spark.catalog.createTable(name, path=str(path), source="parquet")


def write_table(url: str, source_table: str, frame: pl.DataFrame) -> None:
    """Save `frame` as `source_table` of the Spark engine at `url` (replacing it): how tests and the
    benchmark put the sample city into Spark. Local mode writes the Parquet folder of the table."""
    if not all(_NAME.match(part) for part in source_table.split(".")) or source_table.count(".") > 1:
        raise QueryRejected(f"Spark 表名「{source_table}」无效：库名和表名只能包含英文字母、数字和下划线。",
                            hint="例如 citybi.sanitation；中文名称写在 CityBI 的数据集名称里")
    engine = SparkEngine(url)
    spark = engine.session()
    data = frame.to_arrow()
    df = spark.createDataFrame(data)
    db, _, _ = source_table.rpartition(".")
    if db and not spark.catalog.databaseExists(db):
        spark.sql(exp.Create(this=exp.to_identifier(db, quoted=True), kind="DATABASE", exists=True).sql("spark"))
    df.write.mode("overwrite").format("parquet").saveAsTable(engine.table_name(source_table))


class SparkEngine:
    """Spark in this process (spark://local[N]) or a cluster through Spark Connect (sc://host:port)."""

    name = "spark"
    dialect = "spark"

    def __init__(self, url: str, secret: Secret | None = None) -> None:
        self.url = url
        self.kind, self.where, self.warehouse = parse_url(url)
        self.secret = secret

    def session(self) -> Any:
        try:
            return _session(self.kind, self.where or "", self.warehouse, self.secret)
        except Exception as err:  # JVM missing, cluster unreachable: the user gets why, not a traceback
            raise QueryRejected("无法启动或连接 Spark。",
                                hint="请检查本机是否安装 Java 17，或 Spark Connect 地址与端口是否正确",
                                detail=str(err)[:2000]) from None

    @staticmethod
    def table_name(source_table: str) -> str:
        db, _, table = source_table.rpartition(".")
        return exp.table_(table, db=db or None, quoted=True).sql("spark")

    def run(self, query: exp.Expression | str, params: list[Any] | None, max_rows: int, timeout_s: float
            ) -> pl.DataFrame:
        if params:  # citybi.engines.to_dialect inlines the values as literals before we get here
            raise QueryRejected("Spark 引擎收到了未绑定的参数。", detail=str(len(params)))
        sql = query if isinstance(query, str) else query.sql(dialect=self.dialect)
        spark = self.session()
        group = f"citybi-{uuid.uuid4().hex}"
        timed_out = threading.Event()

        def cancel() -> None:
            timed_out.set()
            if self.kind == "local":
                spark.sparkContext.cancelJobsWithTag(group)
            else:
                spark.interruptTag(group)

        if self.kind == "local":
            # a job tag, not setJobGroup: measured here (pyspark 4.3), cancelJobGroup did not stop the job
            # toArrow runs (63 s to the end), cancelJobsWithTag stopped it within a second
            spark.sparkContext.addJobTag(group)
        else:
            spark.addTag(group)
        timer = threading.Timer(timeout_s, cancel)
        timer.start()
        try:
            table = spark.sql(sql).limit(max_rows).toArrow()
        except Exception as err:  # pyspark raises Py4J, Connect and analysis errors: all become one refusal
            if timed_out.is_set():
                raise QueryRejected(f"查询超过 {timeout_s:g} 秒未完成，已停止。", hint="请缩小时间范围或增加筛选条件",
                                    detail=str(err)[:2000]) from None
            raise QueryRejected("Spark 执行查询失败：" + _reason(err), hint="请检查所选字段与条件",
                                detail=str(err)[:2000]) from None
        finally:
            timer.cancel()
            if self.kind == "local":
                spark.sparkContext.removeJobTag(group)
            else:
                spark.removeTag(group)
        import pyarrow as pa

        table = table.rename_columns(unique_names(table.column_names))
        # Spark's date_trunc gives a zoned TIMESTAMP; the session's zone is UTC, so its UTC wall-clock
        # is the bucket DuckDB gives as a plain TIMESTAMP
        for i, field in enumerate(table.schema):
            if pa.types.is_timestamp(field.type) and field.type.tz is not None:
                table = table.set_column(i, field.name, table.column(i).cast(pa.timestamp(field.type.unit)))
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def columns(self, source_table: str) -> list[tuple[str, str]]:
        """(column, Spark type name) of `source_table` in table order, read from Spark's catalog."""
        spark = self.session()
        if self.kind == "local" and self.warehouse is not None:
            with _LOCK:  # a folder written since the session started (linking is when that matters)
                _register_folder(spark, self.warehouse)
        try:
            schema = spark.table(self.table_name(source_table)).schema
        except Exception as err:
            raise QueryRejected(f"在 Spark 中找不到表「{source_table}」。",
                                hint="请写成 库名.表名（或表名），本机模式下表是数据目录中的 Parquet 文件夹",
                                detail=str(err)[:2000]) from None
        return [(f.name, f.dataType.typeName()) for f in schema.fields]

    def close(self) -> None:
        return None  # the session is shared by the process; Spark stops it when the process ends


def _reason(err: BaseException) -> str:
    """A short Chinese reason for the commonest Spark errors; the detail keeps Spark's own text."""
    text = str(err)
    cls = getattr(err, "getCondition", lambda: None)() or ""
    for key, said in (("DIVIDE_BY_ZERO", "除数为 0"), ("UNRESOLVED_ROUTINE", "Spark 没有这个函数"),
                      ("UNRESOLVED_COLUMN", "字段不存在"), ("TABLE_OR_VIEW_NOT_FOUND", "源表不存在"),
                      ("CAST_INVALID_INPUT", "有值无法转换类型"), ("PARSE_SYNTAX_ERROR", "Spark 不支持这种写法"),
                      ("ARITHMETIC_OVERFLOW", "数值超出范围"),
                      ("INVALID_SCHEMA_OR_RELATION_NAME", "Spark 的库名和表名只能包含英文字母、数字和下划线")):
        if key in cls or key in text:
            return said
    return "Spark 无法执行这个查询"
