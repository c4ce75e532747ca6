"""The `postgres` engine: a live dataset's query runs on its PostgreSQL server (psycopg 3).

Why psycopg and not connectorx here (connectorx reads whole tables faster, connectors/sql.py):
a chart or KPI query returns a few hundred aggregated rows, and what matters is that the server
stops it — `statement_timeout` is set on the session, the session is read-only, and only
max_rows rows are ever fetched. The URL and password rules are the 数据源 ones
(connectors/postgresql.py): no password in the URL, the password only from a named secret.
"""
from __future__ import annotations

from typing import Any

import polars as pl
from sqlglot import exp

from citybi.engines.base import unique_names
from citybi.errors import QueryRejected
from citybi.secrets import Secret, redact
from connectors.postgresql import LABEL, _explain, _password
from connectors.source import SourceRejected
from connectors.sql import CONNECT_TIMEOUT_S, guard_driver, parse_db_url

_NUMERIC_OID = 1700  # pg_type.oid of numeric



def fit(tree: exp.Expression) -> exp.Expression:
    """Where PostgreSQL gives other values for the same SQL, make it give DuckDB's.

    date_trunc on a DATE: PostgreSQL casts the date to timestamptz (the session's time zone leaks
    into every 日/周/月/季/年 bucket); DuckDB returns a plain TIMESTAMP. Truncating a TIMESTAMP
    gives the same buckets on both."""
    for node in list(tree.find_all(exp.TimestampTrunc, exp.DateTrunc)):
        node.set("this", exp.cast(node.this, exp.DataType.build("TIMESTAMP")))
    return tree


class PostgresEngine:
    """One PostgreSQL database; a connection per query (the server pools, the app stays stateless)."""

    name = "postgres"
    dialect = "postgres"
    fit = staticmethod(fit)

    def __init__(self, url: str, secret: Secret | None = None) -> None:
        self.url = url
        self.db = parse_db_url(url, 5432, LABEL)
        self.secret = _password(secret)

    def _connect(self, timeout_s: float) -> Any:
        import psycopg

        ms = max(1, int(timeout_s * 1000))
        kwargs: dict[str, Any] = dict(
            host=self.db.host, port=self.db.port, dbname=self.db.database, user=self.db.user or None,
            connect_timeout=CONNECT_TIMEOUT_S, application_name="citybi-engine", autocommit=True,
            options=f"-c default_transaction_read_only=on -c statement_timeout={ms}")
        if self.secret is not None:
            kwargs["password"] = self.secret.reveal()
        return guard_driver(lambda: psycopg.connect(**kwargs), lambda e: _explain(e, self.db), self.secret)

    def run(self, query: exp.Expression | str, params: list[Any] | None, max_rows: int, timeout_s: float
            ) -> pl.DataFrame:
        import psycopg

        if params:  # citybi.engines.to_dialect inlines the values as literals before we get here
            raise QueryRejected("PostgreSQL 引擎收到了未绑定的参数。", detail=str(len(params)))
        sql = query if isinstance(query, str) else query.sql(dialect=self.dialect)
        try:
            conn = self._connect(timeout_s)
        except SourceRejected as err:
            raise QueryRejected(err.message, hint=err.hint, detail=err.detail) from None
        try:
            cur = conn.cursor()
            # no params: psycopg then leaves % in literals alone
            cur.execute(sql.encode("utf-8"))  # bytes: a query object psycopg never reformats
            names = unique_names([c.name for c in cur.description or []])
            rows = cur.fetchmany(max_rows)
        except psycopg.errors.QueryCanceled as err:
            raise QueryRejected(f"查询超过 {timeout_s:g} 秒未完成，已停止。", hint="请缩小时间范围或增加筛选条件",
                                detail=redact(str(err), self.secret)) from None
        except psycopg.Error as err:
            said = _explain(err, self.db)
            raise QueryRejected("PostgreSQL 执行查询失败：" + redact(said.message, self.secret),
                                hint=said.hint or "请检查所选字段与条件",
                                detail=redact(str(err), self.secret)[:2000]) from None
        finally:
            conn.close()
        if not rows:
            return pl.DataFrame({n: [] for n in names})
        # AVG/SUM of integers are NUMERIC in PostgreSQL (Decimal in Python), DOUBLE/HUGEINT in DuckDB:
        # a numeric result column becomes float, as a numeric source column does when linked
        numeric = [i for i, c in enumerate(cur.description or []) if c.type_code == _NUMERIC_OID]
        if numeric:
            rows = [tuple(float(v) if i in numeric and v is not None else v for i, v in enumerate(r)) for r in rows]
        return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)

    def columns(self, source_table: str) -> list[tuple[str, str]]:
        """(column, PostgreSQL type) of `source_table` in table order, read from the catalog views."""
        import psycopg

        schema, _, table = source_table.rpartition(".")
        conn = self._connect(30)
        try:
            cur = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                [schema or "public", table])
            return [(r[0], r[1]) for r in cur.fetchall()]
        except psycopg.Error as err:
            raise QueryRejected(_explain(err, self.db).message, detail=str(err)[:2000]) from None
        finally:
            conn.close()

    def close(self) -> None:
        return None
