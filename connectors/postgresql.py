"""PostgreSQL source: a table or a read-only SELECT into Arrow (psycopg 3 checks, connectorx reads).

URL: postgresql://user@host:5432/database[?table=schema.name]. The password comes from the
named secret, else libpq's usual PGPASSWORD; never from the URL (refused). How the two drivers
share the work and why: connectors/sql.py.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from citybi.secrets import Secret
from connectors.source import Fetched, SourceRejected, SourceRequest, column_names, redacted_url
from connectors.sql import (
    CONNECT_TIMEOUT_S,
    DbUrl,
    DriverFailed,
    cx_fetch,
    cx_url,
    guard_driver,
    parse_db_url,
    probe_query,
    source_query,
    watermark_state,
    with_columns_as,
    with_declared_decimals,
    with_preview_limit,
    with_watermark,
)

if TYPE_CHECKING:
    from sqlglot import exp

LABEL = "PostgreSQL"
# Column types connectorx reads as they are (type OIDs; each checked against this server): bool,
# name, int8, int2, int4, text, oid, json, float4, float8, inet, bpchar, varchar, date, time,
# timestamp, timestamptz, numeric, uuid, jsonb. Any other type — interval, money, point, cidr,
# macaddr, bit, xml, tsvector, timetz, "char", bytea, arrays, ranges, enums, PostGIS geometry, a
# domain — is read as its text (CAST … AS text): connectorx panics on many of them, and the
# warehouse keeps them as text anyway (the type mapping in citybi/sources.py).
_NATIVE = frozenset({16, 19, 20, 21, 23, 25, 26, 114, 700, 701, 869, 1042, 1043, 1082, 1083, 1114, 1184, 1700,
                     2950, 3802})
_READ_ONLY = "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"


def _explain(err: Exception, db: DbUrl) -> SourceRejected:
    """The driver's error as a Chinese message naming what to fix."""
    text = str(err)
    state = getattr(err, "sqlstate", None) or ""
    where = f"{db.host}:{db.port}"
    first = text.splitlines()[0] if text else type(err).__name__
    secret_hint = "请用 --secret 名称 引用保存好的密码（citybi secrets set 名称）"
    # (matches, message, hint): the first match wins; connection failures carry no SQLSTATE
    cases: list[tuple[bool, str, str]] = [
        ("password authentication failed" in text or state == "28P01",
         f"PostgreSQL 拒绝了用户「{db.user}」的密码。", "请检查 --secret 指定的密钥是否为正确的密码"),
        ("role" in text and "does not exist" in text,
         f"PostgreSQL 中没有用户「{db.user}」。", "请检查地址中 @ 前面的用户名"),
        (("database" in text and "does not exist" in text) or state == "3D000",
         f"PostgreSQL 服务器 {where} 上没有数据库「{db.database}」。", "请检查地址最后的数据库名"),
        ("Connection refused" in text or "could not connect" in text,
         f"无法连接 PostgreSQL 服务器 {where}：连接被拒绝。", "请检查主机和端口是否正确、数据库服务是否已启动"),
        ("resolve host" in text or "could not translate host name" in text,
         f"找不到主机「{db.host}」。", "请检查地址中的主机名或 IP"),
        ("timeout" in text.lower() and not state, f"连接 PostgreSQL 服务器 {where} 超时。", "请检查网络和防火墙"),
        ("no password supplied" in text, "PostgreSQL 要求提供密码。", secret_hint),
        (state == "42P01", f"PostgreSQL 中找不到要读取的表：{first}", "请检查表名（区分大小写时要与数据库中一致）"),
        (state == "42703", f"查询中的列不存在：{first}", "请检查列名"),
        (state == "42601", f"查询语句有语法错误：{first}", "请检查 SQL 写法"),
        (state == "25006", "只能读取数据：这条语句会修改数据库，已拒绝。", ""),
        (state == "42501", f"用户「{db.user}」没有读取权限：{first}", "请数据库管理员授予 SELECT 权限"),
        (state.startswith("57P") or "terminat" in text, f"与 PostgreSQL 服务器 {where} 的连接被中断了。", "请稍后重试"),
    ]
    for matched, message, hint in cases:
        if matched:
            return SourceRejected(message, hint=hint, detail=text)
    return SourceRejected(f"PostgreSQL 返回错误：{first[:200]}", detail=text)


def _password(secret: Secret | None) -> Secret | None:
    if secret is not None:
        return secret
    env = os.environ.get("PGPASSWORD")
    return Secret("PGPASSWORD", env) if env else None


class PostgresConnector:
    name = "postgresql"
    label = LABEL
    schemes = ("postgresql", "postgres")

    def check(self, request: SourceRequest) -> None:
        db = parse_db_url(request.url, 5432, LABEL)
        if request.query:
            source_query(request, db, "postgres", LABEL, None)

    def _connect(self, db: DbUrl, secret: Secret | None) -> Any:
        import psycopg

        kwargs: dict[str, Any] = dict(host=db.host, port=db.port, dbname=db.database, user=db.user or None,
                                      connect_timeout=CONNECT_TIMEOUT_S, application_name="citybi",
                                      options="-c default_transaction_read_only=on", autocommit=True)
        if secret is not None:
            kwargs["password"] = secret.reveal()
        return guard_driver(lambda: psycopg.connect(**kwargs), lambda e: _explain(e, db), secret)

    def _describe(self, db: DbUrl, query: str, secret: Secret | None) -> tuple[list[str], dict[str, tuple[int, int]],
                                                                            dict[int, str]]:
        """The result's column names, each numeric's declared precision and scale, and the columns
        connectorx cannot read as they are (position → their type's name), from one LIMIT 0 run."""
        conn = self._connect(db, secret)
        try:
            cur = guard_driver(lambda: conn.execute(probe_query(query, "postgres")), lambda e: _explain(e, db), secret)
            desc = list(cur.description or [])
            declared = {c.name: (c.precision or 0, c.scale or 0) for c in desc
                        if c.type_code == 1700}  # 1700 = numeric
            foreign = {i: c.type_code for i, c in enumerate(desc) if c.type_code not in _NATIVE}
            names: dict[int, str] = {}
            if foreign:
                rows = guard_driver(lambda: conn.execute("SELECT oid::int8, format_type(oid, NULL) FROM pg_type "
                                                         "WHERE oid = ANY(%s)", [sorted(set(foreign.values()))]
                                                         ).fetchall(), lambda e: _explain(e, db), secret)
                names = {int(oid): str(name) for oid, name in rows}
            return ([c.name for c in desc], declared,
                    {i: names.get(oid, str(oid)) for i, oid in foreign.items()})
        finally:
            conn.close()

    def test(self, request: SourceRequest) -> str:
        db = parse_db_url(request.url, 5432, LABEL)
        secret = _password(request.secret)
        # the table a source definition names (request.table) is probed too: 测试连接 then proves the read works
        query = source_query(request, db, "postgres", LABEL, request.table) \
            if (request.query or db.table or request.table) else None
        conn = self._connect(db, secret)
        try:
            version = conn.info.server_version
            if query is None:
                return f"已连接 PostgreSQL {version // 10000}（{db.host}:{db.port}/{db.database}）。"
            cur = guard_driver(lambda: conn.execute(probe_query(query, "postgres")), lambda e: _explain(e, db), secret)
            names = "、".join(c.name for c in cur.description or [])
            return f"已连接 PostgreSQL {version // 10000}，查询可以执行，共 {len(cur.description or [])} 列：{names}。"
        finally:
            conn.close()

    def fetch(self, request: SourceRequest) -> Fetched:
        db = parse_db_url(request.url, 5432, LABEL)
        secret = _password(request.secret)
        query = with_preview_limit(with_watermark(source_query(request, db, "postgres", LABEL, request.table),
                                                  request, "postgres"), request, "postgres")
        names, declared, as_text = self._describe(db, query, secret)
        read = query if not as_text else with_columns_as(
            query, names, dict.fromkeys(as_text, _text), "postgres", by_position=True)
        try:
            table = cx_fetch(cx_url("postgresql", db, secret), read, [_READ_ONLY], secret, LABEL)
        except DriverFailed as err:
            raise _which_column(err, column_names(names)) from None
        frame = with_declared_decimals(table, declared)
        described = redacted_url(request.url) + ("" if request.query is None else f" 查询：{query[:500]}")
        notes = [f"列「{n}」的类型（{as_text[i]}）在仓库中存为文本。"
                 for i, n in enumerate(column_names(names)) if i in as_text]
        return Fetched(described=described, frame=frame, received=frame.height, notes=notes,
                       state=watermark_state(frame, request, LABEL))


def _which_column(err: DriverFailed, names: list[str]) -> DriverFailed:
    """connectorx names a value it cannot convert by column number (a numeric NaN or ±Infinity, one
    beyond 38 digits): said with the column's name and how to read it anyway."""
    import re

    found = re.search(r"deserializing column (\d+): (.*)", err.detail)
    if found is None or int(found.group(1)) >= len(names):
        return err
    name = names[int(found.group(1))]
    return DriverFailed(f"{LABEL} 中列「{name}」有无法读取的值（{found.group(2)[:120]}）。",
                        hint=f"可以用 --query 把这一列按文本读取，例如 CAST(\"{name}\" AS text) AS \"{name}\"",
                        detail=err.detail, panic=err.panic)


def _text(column: exp.Expression) -> exp.Expression:
    from sqlglot import exp

    return exp.Cast(this=column, to=exp.DataType.build("text"))
