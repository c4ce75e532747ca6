"""The `duckdb` engine: the embedded warehouse file, exactly as Warehouse.run always ran it.

It lives here so that all engines share one shape; it is the only engine that does not go
through the registry, because the Warehouse owns its one locked-down connection and hands the
engine its cursors (docs/ARCHITECTURE.md § DuckDB). It imports duckdb, so it is the third module
the "one door to DuckDB" contract allows, and it is only ever built by citybi.warehouse.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl
from sqlglot import exp

from citybi.errors import QueryRejected

if TYPE_CHECKING:  # pyarrow (with numpy: ~0.14 s) loads with the first query's result, not with the warehouse
    import pyarrow as pa


class DuckDBEngine:
    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, cursor: Callable[[], duckdb.DuckDBPyConnection],
                 to_frame: Callable[[pa.Table], pl.DataFrame]) -> None:
        self._cursor = cursor
        self._to_frame = to_frame

    def run(self, query: exp.Expression | str, params: list[Any] | None, max_rows: int, timeout_s: float
            ) -> pl.DataFrame:
        """`query` as the door accepted it; the caller has already put LIMIT max_rows on it."""
        sql = query if isinstance(query, str) else query.sql(dialect=self.dialect)
        cur = self._cursor()
        timer = threading.Timer(timeout_s, cur.interrupt)
        timer.start()
        try:
            rel = cur.sql(sql, params=params) if params else cur.sql(sql)
            return self._to_frame(rel.to_arrow_table())
        except duckdb.InterruptException as err:
            raise QueryRejected(
                f"查询超过 {timeout_s:g} 秒未完成，已停止。", hint="请缩小时间范围或增加筛选条件", detail=str(err)
            ) from err
        except duckdb.Error as err:
            raise QueryRejected("查询执行失败。", hint="请检查所选字段与条件", detail=str(err)) from err
        finally:
            timer.cancel()
            cur.close()

    def close(self) -> None:
        return None
