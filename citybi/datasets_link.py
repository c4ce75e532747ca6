"""`citybi datasets link`: make a table in another engine (PostgreSQL) a live dataset.

Why its own module: linking reads the table's columns from the engine and writes one catalog
entry; the rows stay where they are and every query on the dataset is sent there by the door
(Warehouse.run → citybi.engines). The URL is stored without a password (one in the URL is
refused); a password is only ever the name of a secret (`citybi secrets set NAME`).
"""
from __future__ import annotations

import argparse
from typing import Any

from citybi.catalog import Catalog, open_warehouse
from citybi.config import load_settings
from citybi.engines import LiveTarget, engine_for
from citybi.engines.postgres import PostgresEngine
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
    if not isinstance(engine, PostgresEngine):
        raise UserFacingError("目前只能链接 PostgreSQL 中的表。")
    cols = engine.columns(source_table)
    if not cols:
        raise UserFacingError(f"在数据库中找不到表「{source_table}」或它没有列。",
                              hint="请写成 模式.表名，并检查读取权限")
    out = []
    for name, pg_type in cols:
        mapped = _PG_TYPES.get(pg_type)
        if mapped is None:
            raise UserFacingError(f"列「{name}」的类型 {pg_type} 暂不支持作为实时数据集。",
                                  hint="可以在数据库中建一个视图，把它转换为文本、数字或日期")
        out.append({"name": name, "type": mapped[0], "duckdb_type": mapped[1], "unit": None})
    return out


def link(cat: Catalog, name: str, engine_url: str, source_table: str, secret: str | None = None) -> list[str]:
    """Link `source_table` of the engine at `engine_url` as dataset `name`; the column names."""
    value = SecretStore(cat.wh.path).get(secret) if secret else None
    target = LiveTarget(engine_url=engine_url, source_table=source_table, secret=secret)
    target.table()  # a malformed table name is refused before anyone connects
    engine = engine_for(engine_url, value)
    try:
        columns = columns_of(engine, source_table)
    finally:
        engine.close()
    cat.link_live(name, target, columns)
    return [c["name"] for c in columns]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `link` under `citybi datasets`."""
    ln = sub.add_parser("link", help="把外部数据库（PostgreSQL）中的表链接为实时数据集（数据不复制）")
    ln.add_argument("name", help="数据集名称")
    ln.add_argument("--engine", required=True, help="引擎地址，例如 postgresql://用户@主机:5432/数据库（不写密码）")
    ln.add_argument("--source-table", required=True, help="源表，例如 public.环卫清运")
    ln.add_argument("--secret", help="保存密码的密钥名称（citybi secrets set 名称）")
    ln.add_argument("--db", dest="link_db", help="数据仓库文件（默认 data/citybi.duckdb）")
    ln.set_defaults(func=cmd_link)


def cmd_link(args: argparse.Namespace) -> int:
    with open_warehouse(load_settings(args.link_db or args.db)) as wh:
        names = link(Catalog(wh), args.name, args.engine, args.source_table, args.secret)
        print(f"已链接实时数据集「{args.name}」：{args.source_table}（{len(names)} 列：{'、'.join(names)}）。")
    return 0
