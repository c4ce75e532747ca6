"""MySQL/MariaDB source: a table or a read-only SELECT into Arrow (PyMySQL checks, connectorx reads).

URL: mysql://user@host:3306/database[?table=name] (mariadb:// too). The password comes from
the named secret, else MySQL's usual MYSQL_PWD; never from the URL (refused). Both drivers
talk utf8mb4, so a GBK or utf8mb3 table arrives as the same Chinese text (the server converts).
How the two drivers share the work and why: connectors/sql.py.
"""
from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any

from citybi.secrets import Secret
from connectors.source import Fetched, SourceRejected, SourceRequest, column_names, redacted_url
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

if TYPE_CHECKING:  # polars loads where a frame is made: see connectors/__init__.py
    import polars as pl

LABEL = "MySQL/MariaDB"
_READ_ONLY = "SET SESSION TRANSACTION READ ONLY"
_DECIMAL_TYPES = (0, 246)  # FIELD_TYPE.DECIMAL, NEWDECIMAL
_TINY = 1  # FIELD_TYPE.TINY: BOOLEAN is TINYINT(1), whose display length is 1


@cache
def _connection_class() -> type:
    """PyMySQL's connection, with its default ("preferred") TLS context built without the CA bundle.

    Given no TLS options, PyMySQL encrypts when the server offers TLS and verifies nothing (no
    certificate check, no host name check), yet builds that context with
    ssl.create_default_context(), which first loads the system's CA certificates: 21 ms of every
    connection, i.e. of every probe before a 数据源 fetch. The context here is the same one without
    them. Explicit TLS options (none are passed today) still get PyMySQL's own.
    """
    import ssl

    import pymysql.connections

    class Connection(pymysql.connections.Connection):  # type: ignore[misc]
        def _create_ssl_ctx(self, sslp: Any) -> Any:
            if sslp != {}:
                return super()._create_ssl_ctx(sslp)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
            return ctx

    return Connection


def _explain(err: Exception, db: DbUrl) -> SourceRejected:
    code = err.args[0] if err.args and isinstance(err.args[0], int) else 0
    text = str(err.args[1]) if len(err.args) > 1 else str(err)
    where = f"{db.host}:{db.port}"
    login = "请检查地址中的用户名和 --secret 指定的密码"
    by_code: dict[int, tuple[str, str]] = {
        1045: (f"MySQL 拒绝了用户「{db.user}」的登录（用户名或密码错误）。", login),
        1698: (f"MySQL 拒绝了用户「{db.user}」的登录。", login),
        1044: (f"用户「{db.user}」无权访问数据库「{db.database}」。", "请数据库管理员授予权限"),
        1049: (f"MySQL 服务器 {where} 上没有数据库「{db.database}」。", "请检查地址最后的数据库名"),
        2003: (f"无法连接 MySQL 服务器 {where}。", "请检查主机和端口是否正确、数据库服务是否已启动"),
        2005: (f"找不到主机「{db.host}」。", "请检查地址中的主机名或 IP"),
        2013: (f"与 MySQL 服务器 {where} 的连接中断了。", "请稍后重试"),
        1146: (f"MySQL 中找不到要读取的表：{text}", "请检查表名"),
        1054: (f"查询中的列不存在：{text}", "请检查列名"),
        1064: ("查询语句有语法错误。", "请检查 SQL 写法"),
        # MySQL refuses two result columns of one name inside the derived table the probe reads
        1060: (f"查询结果中有重名的列：{text}", "请用 AS 给重名的列起不同的名字，例如 b.id AS id_2"),
        1142: (f"用户「{db.user}」没有读取权限：{text}", "请数据库管理员授予 SELECT 权限"),
        1792: ("只能读取数据：这条语句会修改数据库，已拒绝。", ""),
    }
    message, hint = by_code.get(code, (f"MySQL 返回错误：{text[:200]}", ""))
    return SourceRejected(message, hint=hint, detail=f"{code} {text}")


def _password(secret: Secret | None) -> Secret | None:
    if secret is not None:
        return secret
    env = os.environ.get("MYSQL_PWD")
    return Secret("MYSQL_PWD", env) if env else None


def _password_bytes(secret: Secret | None) -> bytes:
    # PyMySQL encodes a str password as latin-1: a Chinese password would fail (its error text
    # quoting the password); MySQL compares the bytes the client sends, which are UTF-8
    return secret.reveal().encode("utf-8") if secret is not None else b""


class MySqlConnector:
    name = "mysql"
    label = LABEL
    schemes = ("mysql", "mariadb")

    def check(self, request: SourceRequest) -> None:
        db = parse_db_url(request.url, 3306, LABEL)
        if request.query:
            source_query(request, db, "mysql", LABEL, None)

    def _connect(self, db: DbUrl, secret: Secret | None) -> Any:
        kwargs: dict[str, Any] = dict(host=db.host, port=db.port, user=db.user or None, database=db.database,
                                      password=_password_bytes(secret), charset="utf8mb4",
                                      connect_timeout=CONNECT_TIMEOUT_S, read_timeout=60, autocommit=True,
                                      init_command=_READ_ONLY)
        return guard_driver(lambda: _connection_class()(**kwargs), lambda e: _explain(e, db), secret)

    def _probe(self, db: DbUrl, query: str, secret: Secret | None) -> tuple[Any, list[tuple[Any, ...]]]:
        conn = self._connect(db, secret)
        try:
            cur = conn.cursor()
            guard_driver(lambda: cur.execute(probe_query(query, "mysql")), lambda e: _explain(e, db), secret)
            return conn.get_server_info(), list(cur.description or [])
        finally:
            conn.close()

    def test(self, request: SourceRequest) -> str:
        db = parse_db_url(request.url, 3306, LABEL)
        secret = _password(request.secret)
        if not (request.query or db.table or request.table):
            conn = self._connect(db, secret)
            try:
                return f"已连接 MySQL/MariaDB {conn.get_server_info()}（{db.host}:{db.port}/{db.database}）。"
            finally:
                conn.close()
        version, desc = self._probe(db, source_query(request, db, "mysql", LABEL, request.table), secret)
        return f"已连接 MySQL/MariaDB {version}，查询可以执行，共 {len(desc)} 列：{'、'.join(d[0] for d in desc)}。"

    def fetch(self, request: SourceRequest) -> Fetched:
        db = parse_db_url(request.url, 3306, LABEL)
        secret = _password(request.secret)
        query = with_preview_limit(with_watermark(source_query(request, db, "mysql", LABEL, request.table),
                                                  request, "mysql"), request, "mysql")
        _version, desc = self._probe(db, query, secret)
        # PyMySQL's description: (name, type, display, length, length, scale, null_ok); the
        # length counts sign and point, so it bounds the precision from above (safe to cast to)
        declared = {d[0]: (min(38, int(d[3] or 38)), int(d[5] or 0)) for d in desc if d[1] in _DECIMAL_TYPES}
        table = cx_fetch(cx_url("mysql", db, secret), query, [_READ_ONLY], secret, LABEL)
        frame = with_declared_decimals(table, declared)
        # the frame's names are the result's as connectors.source.column_names gives them (a.id, b.id → id, id_2)
        frame = _booleans(frame, [n for n, d in zip(column_names([d[0] for d in desc]), desc, strict=True)
                                  if d[1] == _TINY and d[3] == 1])
        described = redacted_url(request.url) + ("" if request.query is None else f" 查询：{query[:500]}")
        return Fetched(described=described, frame=frame, received=frame.height,
                       state=watermark_state(frame, request, LABEL))


def _booleans(frame: pl.DataFrame, tiny1: list[str]) -> pl.DataFrame:
    """MySQL has no boolean type: a TINYINT(1) column holding only 0/1 is one (BOOLEAN is its alias)."""
    import polars as pl

    flags = [n for n in tiny1 if n in frame.columns
             and frame.get_column(n).drop_nulls().is_in([0, 1]).all()]
    return frame.with_columns([pl.col(n).cast(pl.Boolean) for n in flags]) if flags else frame
