"""What the PostgreSQL and MySQL/MariaDB connectors share: the read-only SELECT, the URL, the fetch.

Why two drivers per database: connectorx moves rows into Arrow fastest (figures in
pyproject.toml) but reports a refused connection only after ~25 s of retries as "timed out",
and types every numeric as decimal(38,10). A small native driver (psycopg 3, PyMySQL) first
opens a read-only session with a 5-second time-out — a wrong host, port, password, database,
table or SQL gets its precise Chinese message at once — and reads each result column's
declared type (`SELECT * FROM (query) LIMIT 0`), so numeric(10,2) lands as DECIMAL(10,2).
Only then does connectorx stream the rows, in a session set read-only too. (Running the two at
once saved ~0.06 s but left connectorx retrying a refused connection for ~25 s on a thread, and
printing its driver's English error on stderr after the Chinese one: not done.)

Read-only twice over: the query must parse (sqlglot) as ONE SELECT with no data-modifying
part (no INSERT/UPDATE/DELETE in a CTE, no SELECT INTO, no FOR UPDATE), and the database
session itself is read-only. A read-only database account is still the right thing to give
CityBI; this is the second lock, not the first.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from citybi.secrets import Secret, redact
from connectors.source import SourceRejected, SourceRequest, check_url, column_names, redacted_url

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa
    from sqlglot import exp

# sqlglot and pyarrow are imported inside the functions: `connectors.builtin` registers these
# connectors in every file-reader child process too, whose start must stay quick
CONNECT_TIMEOUT_S = 5


def _writes() -> tuple[type, ...]:
    from sqlglot import exp

    return (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Command,
            exp.Into, exp.Lock, exp.TruncateTable)


@dataclass(frozen=True)
class DbUrl:
    scheme: str
    user: str
    host: str
    port: int
    database: str
    table: str | None  # ?table=schema.name


def parse_db_url(url: str, default_port: int, label: str) -> DbUrl:
    check_url(url)
    parts = urlsplit(url)
    database = unquote(parts.path.lstrip("/"))
    try:
        port = parts.port or default_port
    except ValueError as err:
        raise SourceRejected(f"{label} 地址中的端口不是有效数字。", hint="例如 :5432") from err
    if not parts.hostname or not database or "/" in database:
        raise SourceRejected(
            f"{label} 地址不完整：「{redacted_url(url)[:120]}」。",
            hint=f"格式为 {parts.scheme}://用户@主机:端口/数据库，例如 {parts.scheme}://reader@127.0.0.1:{default_port}/city",
        )
    table = (parse_qs(parts.query).get("table") or [None])[0]
    return DbUrl(scheme=parts.scheme, user=unquote(parts.username or ""), host=parts.hostname, port=port,
                 database=database, table=table)


def read_only_select(query: str, dialect: str, label: str) -> str:
    """The query as one read-only SELECT in the database's dialect, or a Chinese refusal."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        trees = [t for t in sqlglot.parse(query, read=dialect) if t is not None]
    except ParseError as err:
        raise SourceRejected("查询语句有语法错误，无法识别。", hint="请检查 SQL 的写法（只支持 SELECT 查询）",
                             detail=str(err)[:500]) from err
    if len(trees) != 1:
        raise SourceRejected("一次只能执行一条查询语句。", hint="请去掉多余的分号和语句，只保留一条 SELECT")
    tree = trees[0]
    writes = [type(n).__name__ for n in tree.walk() if isinstance(n, _writes())]
    if not isinstance(tree, exp.Query) or writes:
        raise SourceRejected(
            f"只能从 {label} 读取数据：查询必须是一条只读的 SELECT 语句。",
            hint="不能包含 INSERT、UPDATE、DELETE、CREATE、SELECT INTO 或 FOR UPDATE",
            detail=",".join(writes) or type(tree).__name__,
        )
    return tree.sql(dialect=dialect)


def table_select(table: str, dialect: str) -> str:
    """SELECT * FROM the named table (schema.table allowed), quoted: a name is data, not SQL."""
    from sqlglot import exp

    parts = [p for p in table.split(".") if p]
    if not 1 <= len(parts) <= 3:
        raise SourceRejected(f"表名「{table[:80]}」不正确。", hint="写成 表名 或 模式.表名")
    ids = [exp.to_identifier(p, quoted=True) for p in parts]
    tbl = exp.Table(this=ids[-1], db=ids[-2] if len(ids) > 1 else None, catalog=ids[0] if len(ids) > 2 else None)
    return exp.select("*").from_(tbl).sql(dialect=dialect)


def source_query(request: SourceRequest, db: DbUrl, dialect: str, label: str, fallback_table: str | None) -> str:
    """What to run: --query (checked), else ?table= in the URL, else the dataset's own name."""
    if request.query:
        return read_only_select(request.query, dialect, label)
    table = db.table or fallback_table
    if not table:
        raise SourceRejected(f"没有说明要读取 {label} 中的哪张表。",
                             hint="用 --query \"SELECT …\" 给出查询，或在地址后加 ?table=表名")
    return table_select(table, dialect)


def with_watermark(query: str, request: SourceRequest, dialect: str) -> str:
    """The query limited to rows whose watermark column is after the previous run's maximum.

    Strictly after: a row at exactly the last maximum was read last time. The upstream must stamp
    the column when a row is written (an updated-at set by the application or a trigger, or an
    ever-growing id); appending by key as well makes a re-read row replace itself, never double.
    """
    import sqlglot
    from sqlglot import exp

    last = request.state.get("watermark")
    if not request.watermark or last is None:
        return query
    value = exp.Literal.number(str(last)) if request.state.get("watermark_kind") == "number" \
        else exp.Literal.string(str(last))
    sub = sqlglot.parse_one(query, read=dialect).subquery("_citybi_src")
    column = exp.column(request.watermark, table="_citybi_src", quoted=True)
    return exp.select("*").from_(sub).where(exp.GT(this=column, expression=value)).sql(dialect=dialect)


def with_preview_limit(query: str, request: SourceRequest, dialect: str) -> str:
    """A preview reads only the first rows: SELECT * FROM (query) LIMIT PREVIEW_ROWS."""
    import sqlglot
    from sqlglot import exp

    from connectors.source import PREVIEW_ROWS

    if not request.preview:
        return query
    sub = sqlglot.parse_one(query, read=dialect).subquery("_citybi_preview")
    return exp.select("*").from_(sub).limit(PREVIEW_ROWS).sql(dialect=dialect)


def watermark_state(frame: pl.DataFrame, request: SourceRequest, label: str) -> dict[str, Any]:
    """The state for the next run: the largest watermark value read (the previous one when no row came)."""
    import datetime as dt
    import decimal

    column = request.watermark
    if not column:
        return {}
    if column not in frame.columns:
        raise SourceRejected(f"更新时间列「{column}」不在从 {label} 读到的列中。",
                             hint="可用的列：" + "、".join(frame.columns[:50]))
    top = frame.get_column(column).max()
    if top is None:
        return {k: request.state[k] for k in ("watermark", "watermark_kind") if k in request.state}
    if isinstance(top, bool) or not isinstance(top, int | float | decimal.Decimal | dt.date | dt.datetime | str):
        raise SourceRejected(f"更新时间列「{column}」的类型不能用来判断新数据。",
                             hint="请选择时间、日期或不断增大的编号列")
    kind = "number" if isinstance(top, int | float | decimal.Decimal) else "text"
    return {"watermark": str(top), "watermark_kind": kind}


def probe_query(query: str, dialect: str) -> str:
    """SELECT * FROM (query) LIMIT 0: the result's columns and declared types, no rows."""
    import sqlglot
    from sqlglot import exp

    sub = sqlglot.parse_one(query, read=dialect).subquery("_citybi_probe")
    return exp.select("*").from_(sub).limit(0).sql(dialect=dialect)


def cx_url(scheme: str, db: DbUrl, secret: Secret | None) -> str:
    """connectorx's URL, password included (percent-encoded): never shown, logged or stored."""
    auth = quote(db.user, safe="")
    if secret is not None:
        auth += ":" + quote(secret.reveal(), safe="")
    return f"{scheme}://{auth}@{db.host}:{db.port}/{quote(db.database, safe='')}"


def cx_fetch(url: str, query: str, pre: list[str], secret: Secret | None, label: str) -> pa.Table:
    import connectorx as cx

    try:
        return cx.read_sql(url, query, return_type="arrow", pre_execution_query=pre)
    except BaseException as err:  # the driver's text may carry the URL: redacted before anyone sees it
        if not (isinstance(err, Exception) or is_driver_panic(err)):
            raise  # Ctrl-C, SystemExit
        text = redact(str(err), secret)
        raise DriverFailed(f"从 {label} 读取数据失败：{text[:300]}",
                           hint="请稍后重试；如果一直失败，请联系数据库管理员", detail=text[:2000],
                           panic=is_driver_panic(err)) from None


def is_driver_panic(err: BaseException) -> bool:
    """connectorx's Rust panics reach Python as pyo3's PanicException, a BaseException: a column
    type it does not implement (PostgreSQL interval, MySQL GEOMETRY) or a value it cannot convert
    (MySQL's 0000-00-00). Caught like an error, never left to end a refresh thread or the command."""
    return type(err).__name__ == "PanicException"


class DriverFailed(SourceRejected):
    """connectorx's read failed; `panic`: by a Rust panic (a value or type it cannot convert)."""

    def __init__(self, message: str, *, hint: str = "", detail: str = "", panic: bool = False) -> None:
        super().__init__(message, hint=hint, detail=detail)
        self.panic = panic


def with_columns_as(query: str, names: list[str], replaced: dict[int, Callable[[exp.Expression], exp.Expression]],
                    dialect: str, *, by_position: bool) -> str:
    """SELECT every result column of `query`, those at the positions in `replaced` through their
    expression (a cast to text, ST_AsText), each under its own name and in its own place.

    `by_position` names the derived table's columns c0, c1, … (PostgreSQL's alias list), so two
    result columns of one name (a.id, b.id) are still two; MySQL/MariaDB has no such list and
    refuses such a derived table anyway (the probe has said so in Chinese by then).
    """
    import sqlglot
    from sqlglot import exp

    inner = sqlglot.parse_one(query, read=dialect)
    if by_position:
        alias = exp.TableAlias(this=exp.to_identifier("_citybi_cols"),
                               columns=[exp.to_identifier(f"c{i}") for i in range(len(names))])
        refs = [exp.column(f"c{i}", table="_citybi_cols") for i in range(len(names))]
        sub = exp.Subquery(this=inner, alias=alias)
    else:
        refs = [exp.column(n, table="_citybi_cols", quoted=True) for n in names]
        sub = inner.subquery("_citybi_cols")
    picks = [(replaced[i](ref) if i in replaced else ref).as_(name, quoted=True)
             for i, (name, ref) in enumerate(zip(names, refs, strict=True))]
    return exp.select(*picks).from_(sub).sql(dialect=dialect)


def with_declared_decimals(table: pa.Table, declared: dict[str, tuple[int, int]]) -> pl.DataFrame:
    """Arrow rows → polars, every decimal column at its declared precision and scale.

    A numeric without a declared scale keeps the largest scale its values use (at most 10). Two
    result columns of one name (a.id, b.id) are both kept, the second as id_2 (connectors.source).
    The declared casts are polars': 1,000,000 values in 6 ms, where pyarrow's cast took 30 ms.
    """
    import polars as pl
    import pyarrow as pa

    names = column_names(table.column_names)
    casts: list[pl.Expr] = []
    for name, given, col in zip(names, table.column_names, table.columns, strict=True):
        if not pa.types.is_decimal(col.type):
            continue
        p, s = declared.get(given) or (0, 0)
        if not p:
            s = _used_scale(col)
            p = 38
        casts.append(pl.col(name).cast(pl.Decimal(min(38, max(p, s + 1)), s)))
    frame = pl.from_arrow(table.rename_columns(names))
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(casts) if casts else frame


def _used_scale(col: pa.ChunkedArray) -> int:
    import pyarrow.compute as pc

    scale = col.type.scale
    for s in range(0, scale):
        if pc.all(pc.equal(pc.round(col, s), col)).as_py() in (True, None):
            return s
    return scale


def guard_driver(fn: Callable[[], Any], explain: Callable[[Exception], SourceRejected], secret: Secret | None) -> Any:
    """Run a native-driver call; its error becomes a Chinese SourceRejected with the secret scrubbed."""
    try:
        return fn()
    except SourceRejected:
        raise
    except Exception as err:
        said = explain(err)
        # built anew, not edited: the exception's args (its repr) would keep the unredacted text
        raise SourceRejected(redact(said.message, secret), hint=redact(said.hint, secret),
                             detail=redact(said.detail or str(err), secret)[:2000]) from None
