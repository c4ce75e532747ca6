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

if TYPE_CHECKING:  # polars loads where a frame is made: see connectors/__init__.py
    from collections.abc import Callable

    import polars as pl
    from sqlglot import exp

LABEL = "MySQL/MariaDB"
_READ_ONLY = "SET SESSION TRANSACTION READ ONLY"
_DECIMAL_TYPES = (0, 246)  # FIELD_TYPE.DECIMAL, NEWDECIMAL
_TINY = 1  # FIELD_TYPE.TINY: BOOLEAN is TINYINT(1), whose display length is 1
_BIT, _GEOMETRY = 16, 255
_TIMESTAMP, _DATE, _TIME, _DATETIME, _NEWDATE = 7, 10, 11, 12, 14
_MOMENTS = (_TIMESTAMP, _DATE, _TIME, _DATETIME, _NEWDATE)
_MOMENTS_AS_TEXT = "dates_as_text"  # kept in the source's state (connectors.source.SourceRequest.state)


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
        given = [d[0] for d in desc]
        # the frame's names are the result's as connectors.source.column_names gives them (a.id, b.id → id, id_2)
        names = column_names(given)
        # connectorx panics on GEOMETRY and reads BIT as bytes: asked for as WKT text and as a number instead
        replaced: dict[int, Callable[[exp.Expression], exp.Expression]] = {
            i: _wkt if d[1] == _GEOMETRY else _number for i, d in enumerate(desc) if d[1] in (_GEOMETRY, _BIT)}
        url = cx_url("mysql", db, secret)
        notes: list[str] = []
        moments = {i: d[1] for i, d in enumerate(desc) if d[1] in _MOMENTS}
        # a source whose last run met such a value reads its dates as text at once: no second read
        # (and no driver panic in the log) on every refresh of a legacy table
        as_text = bool(moments) and bool(request.state.get(_MOMENTS_AS_TEXT))
        if not as_text:
            try:
                frame = with_declared_decimals(cx_fetch(url, _read(query, given, replaced), [_READ_ONLY], secret,
                                                        LABEL), declared)
            except DriverFailed as err:
                if not (err.panic and moments):
                    raise
                # a value connectorx cannot convert: MySQL's zero date 0000-00-00 (or 2024-00-00) of a
                # table written without strict mode, or a TIME beyond a day (it is a duration, up to
                # 838:59:59). Read once more with those columns as their text; they become dates again here.
                as_text = True
        if as_text:
            table = cx_fetch(url, _read(query, given, {**replaced, **dict.fromkeys(moments, _char)}), [_READ_ONLY],
                             secret, LABEL)
            frame, notes = _moments_from_text(with_declared_decimals(table, declared),
                                              {names[i]: kind for i, kind in moments.items()})
        frame = _booleans(frame, [n for n, d in zip(names, desc, strict=True)
                                  if d[1] in (_TINY, _BIT) and d[3] == 1])
        notes += [f"列「{names[i]}」的类型（GEOMETRY）在仓库中存为文本（WKT）。"
                  for i, d in enumerate(desc) if d[1] == _GEOMETRY]
        described = redacted_url(request.url) + ("" if request.query is None else f" 查询：{query[:500]}")
        state = watermark_state(frame, request, LABEL) | ({_MOMENTS_AS_TEXT: True} if as_text else {})
        return Fetched(described=described, frame=frame, received=frame.height, notes=notes, state=state)


def _read(query: str, given: list[str], replaced: dict[int, Callable[[exp.Expression], exp.Expression]]) -> str:
    return with_columns_as(query, given, replaced, "mysql", by_position=False) if replaced else query


def _wkt(column: exp.Expression) -> exp.Expression:
    from sqlglot import exp

    return exp.Anonymous(this="ST_AsText", expressions=[column])


def _number(column: exp.Expression) -> exp.Expression:
    from sqlglot import exp

    return exp.Add(this=column, expression=exp.Literal.number(0))  # MySQL's way to read a BIT as its number


def _char(column: exp.Expression) -> exp.Expression:
    from sqlglot import exp

    return exp.Cast(this=column, to=exp.DataType.build("CHAR"))


def _moments_from_text(frame: pl.DataFrame, kinds: dict[str, int]) -> tuple[pl.DataFrame, list[str]]:
    """Dates and date-times read as text back to dates; a value that is no date (0000-00-00,
    2024-00-00) becomes NULL and is counted in a note. TIME stays text: the warehouse keeps a
    time of day as text anyway (the type mapping in citybi/sources.py), and a duration is one."""
    notes: list[str] = []
    for name, kind in kinds.items():
        s = frame.get_column(name)
        if kind == _TIME:
            notes.append(f"列「{name}」的类型（TIME）在仓库中存为文本。")
            continue
        got = s.str.to_date("%Y-%m-%d", strict=False) if kind in (_DATE, _NEWDATE) else \
            s.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us")
        lost = s.is_not_null() & got.is_null()
        if lost.any():
            odd = s.filter(lost)
            examples = "、".join(odd.unique(maintain_order=True).head(3).to_list())
            notes.append(f"列「{name}」有 {odd.len()} 个值不是有效日期（{examples}），已作为空值导入。")
        frame = frame.with_columns(got.alias(name))
    return frame, notes


def _booleans(frame: pl.DataFrame, tiny1: list[str]) -> pl.DataFrame:
    """MySQL has no boolean type: a TINYINT(1) column holding only 0/1 is one (BOOLEAN is its alias)."""
    import polars as pl

    flags = [n for n in tiny1 if n in frame.columns
             and frame.get_column(n).drop_nulls().is_in([0, 1]).all()]
    return frame.with_columns([pl.col(n).cast(pl.Boolean) for n in flags]) if flags else frame
