"""PostgreSQL source: a table or a read-only SELECT into Arrow (psycopg 3 checks, connectorx reads).

URL: postgresql://user@host:5432/database[?table=schema.name]. The password comes from the
named secret, else libpq's usual PGPASSWORD; never from the URL (refused). How the two drivers
share the work and why: connectors/sql.py.
"""
from __future__ import annotations

import os
from typing import Any

from citybi.secrets import Secret
from connectors.source import Fetched, SourceRejected, SourceRequest, redacted_url
from connectors.sql import (
    CONNECT_TIMEOUT_S,
    DbUrl,
    cx_fetch,
    cx_url,
    guard_driver,
    parse_db_url,
    probe_query,
    source_query,
    watermark_state,
    with_declared_decimals,
    with_preview_limit,
    with_watermark,
)

LABEL = "PostgreSQL"
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

    def _declared(self, db: DbUrl, query: str, secret: Secret | None) -> dict[str, tuple[int, int]]:
        """Each result column's declared numeric precision and scale (the query runs with LIMIT 0)."""
        conn = self._connect(db, secret)
        try:
            cur = guard_driver(lambda: conn.execute(probe_query(query, "postgres")), lambda e: _explain(e, db), secret)
            return {c.name: (c.precision or 0, c.scale or 0) for c in cur.description or []
                    if c.type_code == 1700}  # 1700 = numeric
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
        declared = self._declared(db, query, secret)
        table = cx_fetch(cx_url("postgresql", db, secret), query, [_READ_ONLY], secret, LABEL)
        frame = with_declared_decimals(table, declared)
        described = redacted_url(request.url) + ("" if request.query is None else f" 查询：{query[:500]}")
        return Fetched(described=described, frame=frame, received=frame.height,
                       state=watermark_state(frame, request, LABEL))
