"""`citybi datasets link`: make a table in another engine (PostgreSQL, Spark) a live dataset.

Why its own module: linking reads the table's columns from the engine and writes one catalog
entry; the rows stay where they are and every query on the dataset is sent there by the door
(Warehouse.run → citybi.engines). The URL is stored without a password (one in the URL is
refused); a password is only ever the name of a secret (`citybi secrets set NAME`).

A local Spark address without a warehouse folder (spark://local[2]) is stored with the folder
`spark-warehouse` next to the DuckDB file filled in: local Spark keeps its catalog in memory, and the
folder of Parquet tables is what lets the link work again after a restart (citybi/engines/spark.py).
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlglot import exp

from citybi.catalog import Catalog, open_warehouse
from citybi.config import load_settings
from citybi.engines import LiveTarget, engine_for, to_dialect
from citybi.engines.postgres import PostgresEngine
from citybi.engines.spark import TYPES as SPARK_TYPES
from citybi.engines.spark import SparkEngine, local_url, parse_url
from citybi.errors import UserFacingError
from citybi.secrets import SecretStore

# PostgreSQL data_type → (logical type, the DuckDB type the chart and question code expects)
_PG_TYPES: dict[str, tuple[str, str]] = {
    "text": ("text", "VARCHAR"), "character varying": ("text", "VARCHAR"), "character": ("text", "VARCHAR"),
    "smallint": ("integer", "SMALLINT"), "integer": ("integer", "INTEGER"), "bigint": ("integer", "BIGINT"),
    "numeric": ("number", "DOUBLE"), "real": ("number", "FLOAT"), "double precision": ("number", "DOUBLE"),
    "date": ("date", "DATE"), "timestamp without time zone": ("timestamp", "TIMESTAMP"),
    "timestamp with time zone": ("timestamp", "TIMESTAMP WITH TIME ZONE"), "boolean": ("boolean", "BOOLEAN"),
}


def columns_of(engine: Any, source_table: str) -> list[dict[str, Any]]:
    """The catalog's column entries for `source_table`, read from the engine (refused: unknown types)."""
    if isinstance(engine, PostgresEngine):
        types = _PG_TYPES
    elif isinstance(engine, SparkEngine):
        types = SPARK_TYPES
    else:
        raise UserFacingError("目前只能链接 PostgreSQL 或 Spark 中的表。")
    cols = engine.columns(source_table)
    if not cols:
        raise UserFacingError(f"在数据库中找不到表「{source_table}」或它没有列。",
                              hint="请写成 模式.表名，并检查读取权限")
    out = []
    for name, kind in cols:
        mapped = types.get(kind)
        if mapped is None:
            raise UserFacingError(f"列「{name}」的类型 {kind} 暂不支持作为实时数据集。",
                                  hint="可以在数据库中建一个视图，把它转换为文本、数字或日期")
        out.append({"name": name, "type": mapped[0], "duckdb_type": mapped[1], "unit": None})
    return out


def row_count(engine: Any, target: LiveTarget, timeout_s: float = 60) -> int:
    """The table's rows at link time, counted once on the engine (0 when that takes too long).

    问数 needs the size to tell a lookup column (nearly one row per value, e.g. 工单编号) from a
    grouping one (区): with no size every column looked like a key, and "南湖区的清运量" listed rows
    instead of adding them up. The figure is not kept current; the ratio it feeds needs no precision."""
    tree = exp.select(exp.Count(this=exp.Star()).as_("n")).from_(exp.to_table("t"))
    try:
        text = to_dialect(tree, engine.dialect, {"t": target.table()}, None, getattr(engine, "fit", None))
        frame = engine.run(text, None, 1, timeout_s)
    except UserFacingError:
        return 0
    return int(frame.item(0, 0)) if frame.height else 0


def with_spark_folder(engine_url: str, warehouse: Path) -> str:
    """`engine_url`, with the local Spark table folder next to the warehouse file filled in if it names none."""
    if not engine_url.lower().startswith("spark://"):
        return engine_url
    _, master, folder = parse_url(engine_url)
    if folder is not None:
        return engine_url
    cores = (master or "local[1]").removeprefix("local[").rstrip("]") or "1"
    return local_url(cores, Path(warehouse).resolve().parent / "spark-warehouse")


def link(cat: Catalog, name: str, engine_url: str, source_table: str, secret: str | None = None) -> list[str]:
    """Link `source_table` of the engine at `engine_url` as dataset `name`; the column names."""
    value = SecretStore(cat.wh.path).get(secret) if secret else None
    engine_url = with_spark_folder(engine_url, cat.wh.path)
    target = LiveTarget(engine_url=engine_url, source_table=source_table, secret=secret)
    target.table()  # a malformed table name is refused before anyone connects
    engine = engine_for(engine_url, value)
    try:
        columns = columns_of(engine, source_table)
        rows = row_count(engine, target)
    finally:
        engine.close()
    cat.link_live(name, target, columns, row_count=rows)
    return [c["name"] for c in columns]


def copy_notes(source: Catalog, target: Catalog, name: str) -> None:
    """Give live dataset `name` in `target` what an analyst set on the same dataset in `source`:
    column units, descriptions and synonyms, the rules and the department — so that charts and 问数
    read it exactly as they read the imported copy (how a city moves a dataset to an engine)."""
    info = source.get(name)
    for col in info.columns:
        if col.unit or col.description:
            target.set_column_note(name, col.name, description=col.description or None, unit=col.unit)
        if col.synonyms:
            target.set_synonyms(name, list(col.synonyms), column=col.name)
    if info.synonyms:
        target.set_synonyms(name, list(info.synonyms))
    target.set_rules(name, source.rules(name))
    department = source.governance(name).department
    if department:
        target.set_governance(name, replace(target.governance(name), department=department))


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `link` under `citybi datasets`."""
    ln = sub.add_parser("link", help="把外部数据库（PostgreSQL、Spark）中的表链接为实时数据集（数据不复制）")
    ln.add_argument("name", help="数据集名称")
    ln.add_argument("--engine", required=True,
                    help=("引擎地址：postgresql://用户@主机:5432/数据库（不写密码）、spark://local[2]"
                          "（本机，表在仓库旁的 spark-warehouse 目录）或 sc://主机:15002（Spark Connect）"))
    ln.add_argument("--source-table", required=True,
                    help="源表，例如 public.环卫清运（PostgreSQL）或 default.环卫清运（Spark）")
    ln.add_argument("--secret", help="保存密码的密钥名称（citybi secrets set 名称）")
    ln.add_argument("--db", dest="link_db", help="数据仓库文件（默认 data/citybi.duckdb）")
    ln.set_defaults(func=cmd_link)


def cmd_link(args: argparse.Namespace) -> int:
    with open_warehouse(load_settings(args.link_db or args.db)) as wh:
        names = link(Catalog(wh), args.name, args.engine, args.source_table, args.secret)
        print(f"已链接实时数据集「{args.name}」：{args.source_table}（{len(names)} 列：{'、'.join(names)}）。")
    return 0
