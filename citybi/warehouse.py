"""The warehouse: one embedded DuckDB file, one locked-down connection, one query door.

Why it looks like this (measurements: docs/ARCHITECTURE.md § DuckDB):
- DuckDB lets one process open a file read-write; inside the process we share a single
  connection and hand out `cursor()`s per thread.
- `read_only=True` does not stop read_csv('/etc/passwd') or COPY TO. We lock the whole
  database instance down right after opening (no external access, no extension loading,
  configuration locked). The importer parses files in Python and hands DuckDB Arrow via
  `register()`, which still works, so nothing we need is lost.
- Every user-driven query (questions, charts, boards, exports) goes through `run(tree)`:
  it takes a sqlglot tree, checks it is a read-only SELECT over catalog datasets, applies the
  row limit and the time-out. For a caller with a restricted scope (citybi.context) it then
  rewrites every dataset reference to that caller's rows (citybi.rowrules) and checks the
  rewritten query through the door again.
"""
from __future__ import annotations

import contextlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import polars as pl
import sqlglot
from sqlglot import exp

from citybi import context, rowrules
from citybi.config import Settings, load_settings
from citybi.engines import Engine, LiveTarget, engine_for, to_dialect
from citybi.engines.duckdb import DuckDBEngine
from citybi.errors import QueryRejected, UserFacingError, WarehouseBusy, storage_error
from citybi.querydoor import KEYWORD_FUNCTIONS, checked_sql, fold
from citybi.secrets import SecretStore

if TYPE_CHECKING:  # pyarrow (with numpy: ~0.14 s) loads with the first query's result: an import never needs it
    import pyarrow as pa


class DatasetDirectory(Protocol):
    """Who knows which datasets exist: the warehouse asks, it does not look in anyone's tables.

    The catalog (citybi.catalog) is the directory of a real warehouse; `open_warehouse` there
    wires it in. A Warehouse given no directory knows no datasets, so its door refuses every
    query (fail closed) and no metadata tables are made.
    """

    def setup(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Create what the directory keeps (run once in a write transaction when the file opens)."""
        ...

    def names(self, cur: duckdb.DuckDBPyConnection) -> Iterable[str]:
        """Every dataset name a query may read."""
        ...

    def governance(self, cur: duckdb.DuckDBPyConnection) -> Mapping[str, rowrules.Governance]:
        """Owner and district/street columns per dataset, keyed by folded name (row rules)."""
        ...

    # optional (the warehouse asks with getattr): live datasets, folded name → where they live
    # def live(self, cur) -> Mapping[str, LiveTarget]


class NoDatasets:
    """The directory of a warehouse nobody catalogued: no datasets, nothing to set up."""

    def setup(self, cur: duckdb.DuckDBPyConnection) -> None:
        return None

    def names(self, cur: duckdb.DuckDBPyConnection) -> Iterable[str]:
        return ()

    def governance(self, cur: duckdb.DuckDBPyConnection) -> Mapping[str, rowrules.Governance]:
        return {}

@dataclass
class QueryResult:
    """The answer to `Warehouse.run`: a polars frame plus what produced it."""

    frame: pl.DataFrame
    tree: exp.Expression
    elapsed_s: float
    truncated: bool = False
    params: list[Any] = field(default_factory=list)
    _sql: str | None = field(default=None, repr=False)
    # "按您的数据权限，只包含：临江区" when the row rule narrowed the query (citybi.rowrules), else ""
    scope_note: str = ""
    engine: str = "duckdb"  # which engine answered (citybi.engines); caches keep other engines' results briefly

    @property
    def sql(self) -> str:
        """The query as run (pretty DuckDB SQL), printed only when someone asks for it."""
        if self._sql is None:
            self._sql = self.tree.sql(dialect="duckdb", pretty=True)
        return self._sql

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)

    @property
    def rows(self) -> list[tuple[Any, ...]]:
        return self.frame.rows()


_UNCHANGED = "这次的修改没有写入，数据仓库保持原样。"


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    # after a failed COMMIT there is no transaction left to roll back; that is fine
    with contextlib.suppress(duckdb.Error):
        cur.execute("ROLLBACK")


def _is_lock_error(err: Exception) -> bool:
    text = str(err)
    return "lock" in text.lower() and ("conflict" in text.lower() or "Could not set lock" in text)


class Warehouse:
    """The DuckDB file behind CityBI. Create one per process and share it."""

    def __init__(self, settings: Settings | None = None, *, path: str | Path | None = None,
                 directory: DatasetDirectory | None = None, require_context: bool = False) -> None:
        self.directory: DatasetDirectory = directory or NoDatasets()
        # the web app's door: a query arriving with no context (a thread that lost it) is refused
        self.require_context = require_context
        self.settings = settings or load_settings(path)
        if path is not None:
            self.settings = self.settings.with_db(path)
        self.path = Path(self.settings.db_path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            disk = storage_error(err, f"创建数据文件夹 {self.path.parent}")
            if disk is not None:
                raise disk from err
            raise
        existed = self.path.exists()
        try:
            self._con = duckdb.connect(str(self.path))
        except duckdb.IOException as err:
            disk = storage_error(err, f"打开数据仓库 {self.path}")
            if disk is not None and not existed and not _is_lock_error(err):
                # a create that failed half-way (full disk) leaves a file DuckDB later calls "not a
                # valid database": remove what this attempt made, never a file that was there before
                for leftover in (self.path, self.path.with_name(self.path.name + ".wal")):
                    with contextlib.suppress(OSError):
                        leftover.unlink()
            if _is_lock_error(err):
                pid = re.search(r"PID (\d+)", str(err))
                who = f"（进程 {pid.group(1)}）" if pid else ""
                raise WarehouseBusy(
                    f"数据仓库文件 {self.path} 正被另一个程序占用{who}。",
                    hint="DuckDB 同一时间只允许一个程序写入：请在正在运行的 CityBI 应用里操作，"
                    "或先停止应用再用命令行导入",
                    detail=str(err),
                ) from err
            if disk is not None:
                raise disk from err
            raise
        self._lock = threading.RLock()
        self._generation = 0
        self._dataset_names: tuple[int, frozenset[str]] | None = None
        self._door_cache: tuple[int, frozenset[str], frozenset[str]] | None = None
        self._governance: tuple[int, Mapping[str, rowrules.Governance]] | None = None
        # rewritten SQL per (generation, caller's scope key, accepted SQL): a board re-runs the same
        # queries for the same users, and the rewrite (parse + rewrite + re-check) costs ~2-10 ms
        self._rewrites: OrderedDict[tuple[int, str, str], tuple[str, bool]] = OrderedDict()
        self._rewrites_lock = threading.Lock()  # not self._lock: a long import must not block reads
        self._duck = DuckDBEngine(self.cursor, _to_frame)
        self._live: tuple[int, Mapping[str, LiveTarget]] | None = None
        self._engines: dict[tuple[str, str | None], Engine] = {}
        try:
            self._lock_down()
            with self.transaction() as cur:
                self.directory.setup(cur)
        except BaseException:
            self.close()  # a half-opened warehouse must not keep the file
            raise

    # ------------------------------------------------------------------ connection
    def _lock_down(self) -> None:
        """Close every door to the file system and to extensions, then lock the settings."""
        con = self._con
        if con.execute("SELECT current_setting('lock_configuration')").fetchall()[0][0]:
            if con.execute("SELECT current_setting('enable_external_access')").fetchall()[0][0]:
                raise RuntimeError("warehouse instance is locked with external access enabled")
            return  # a Warehouse in this process already opened (and locked down) this file
        if self.settings.duckdb_threads:
            con.execute(f"SET threads = {int(self.settings.duckdb_threads)}")
        mem = self.settings.duckdb_memory_limit
        if mem and re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", mem):  # validated: it is formatted into SQL
            con.execute(f"SET memory_limit = '{mem}'")
        for stmt in (
            "SET enable_external_access = false",
            # an unknown table name must never resolve to a Python variable of that name
            "SET python_enable_replacements = false",
            "SET autoload_known_extensions = false",
            "SET autoinstall_known_extensions = false",
            "SET allow_community_extensions = false",
            "SET lock_configuration = true",
        ):
            con.execute(stmt)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for the calling thread (DuckDB cursors share the one database instance)."""
        return self._con.cursor()

    def fetchall(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of one of the core's own reads of its `_citybi` tables: fixed SQL text with ?
        parameters, never user text (user-driven queries go through `run`, the door)."""
        cur = self.cursor()
        try:
            return cur.execute(sql, params or []).fetchall()
        finally:
            cur.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction: everything inside commits together or not at all.

        A failure inside or at COMMIT rolls back (a failing ROLLBACK never replaces the real
        error), and a disk that refused (full, read-only, size limit) becomes a StorageError
        that names the cause, so the next transaction starts clean once the disk is fixed.
        """
        with self._lock:
            cur = self._con.cursor()
            try:
                try:
                    cur.execute("BEGIN TRANSACTION")
                    yield cur
                except BaseException as err:
                    _rollback(cur)
                    if isinstance(err, Exception) and not isinstance(err, UserFacingError):
                        problem = storage_error(err, "写入数据仓库", outcome=_UNCHANGED)
                        if problem is not None:
                            raise problem from err
                    raise
                try:
                    cur.execute("COMMIT")
                except duckdb.Error as err:
                    _rollback(cur)  # DuckDB has usually dropped the transaction already; make sure
                    disk = storage_error(err, "写入数据仓库", outcome=_UNCHANGED)
                    if disk is not None:
                        raise disk from err
                    raise
            finally:
                with contextlib.suppress(duckdb.Error):
                    cur.close()
            self._generation += 1

    @property
    def generation(self) -> int:
        """Bumped by every committed write; caches key on it to see new data."""
        return self._generation

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the query door
    def dataset_names(self) -> frozenset[str]:
        """The datasets the door lets a query read (asked of the directory once per generation)."""
        cached = self._dataset_names
        if cached and cached[0] == self._generation:
            return cached[1]
        cur = self.cursor()
        try:
            names = frozenset(self.directory.names(cur))
        finally:
            cur.close()
        self._dataset_names = (self._generation, names)
        return names

    def check(self, tree: exp.Expression) -> None:
        """Refuse anything but a read-only SELECT over catalog datasets (raises QueryRejected).

        The rules live in citybi.querydoor; they judge the SQL text the tree prints to."""
        checked_sql(tree, *self._door_names())

    def _door_names(self) -> tuple[frozenset[str], frozenset[str]]:
        """Dataset names, and their columns named like a DuckDB keyword function (per generation)."""
        cached = self._door_cache
        if cached and cached[0] == self._generation:
            return cached[1], cached[2]
        names = self.dataset_names()
        cur = self.cursor()
        try:
            cols = cur.execute("SELECT table_name, column_name FROM duckdb_columns() "
                               "WHERE schema_name = 'main' AND database_name = current_database()").fetchall()
        finally:
            cur.close()
        keyword = frozenset(fold(c) for t, c in cols if t in names and fold(c) in KEYWORD_FUNCTIONS)
        self._door_cache = (self._generation, names, keyword)
        return names, keyword

    def governance(self) -> Mapping[str, rowrules.Governance]:
        """Each dataset's owner and district/street columns (folded name → Governance), per generation."""
        cached = self._governance
        if cached and cached[0] == self._generation:
            return cached[1]
        cur = self.cursor()
        try:
            gov = dict(self.directory.governance(cur))
        finally:
            cur.close()
        self._governance = (self._generation, gov)
        return gov

    def caller(self) -> context.Context:
        """Who the running query is for: the context set, else SYSTEM — or a refusal in the app."""
        ctx = context.current()
        if ctx is None and self.require_context:
            raise QueryRejected("请先登录，再查看数据。", hint="登录已失效或页面未完成登录，请刷新页面后重新登录",
                                detail="no context in a require_context warehouse")
        return ctx or context.SYSTEM

    def run(
        self,
        tree: exp.Expression,
        *,
        params: list[Any] | None = None,
        max_rows: int | None = None,
        timeout_s: float | None = None,
    ) -> QueryResult:
        """Run a user-driven query. The only place such queries reach DuckDB."""
        if not isinstance(tree, exp.Query):  # before the LIMIT wrapper would hide what it was
            raise QueryRejected("只能执行查询（SELECT）语句。", detail=type(tree).__name__)
        ctx = self.caller()
        limit = max_rows or self.settings.query.max_rows
        # the door judges exactly the text DuckDB is given, LIMIT included
        names, keywords = self._door_names()
        sql = checked_sql(_apply_limit(tree, limit + 1), names, keywords)
        note = ""
        if rowrules.restricted(ctx):
            sql, narrowed = self._with_row_rules(sql, ctx, names, keywords)
            note = rowrules.scope_note(ctx) if narrowed else ""
        timeout = timeout_s or self.settings.query.timeout_s
        t0 = time.perf_counter()
        routed = self._route(sql, names)
        if routed is None:
            frame = self._duck.run(sql, params, limit + 1, timeout)
        else:
            engine, tables = routed
            # the text the door accepted (row rules applied), re-parsed and transpiled: what runs is what was checked
            text = to_dialect(sqlglot.parse_one(sql, dialect="duckdb"), engine.dialect, tables, params,
                              getattr(engine, "fit", None))
            frame = engine.run(text, None, limit + 1, timeout)
        elapsed = time.perf_counter() - t0
        truncated = frame.height > limit
        if truncated:
            frame = frame.head(limit)
        return QueryResult(frame=frame, tree=tree, elapsed_s=elapsed, truncated=truncated,
                           params=list(params or []), scope_note=note,
                           engine="duckdb" if routed is None else routed[0].name)

    def live_datasets(self) -> Mapping[str, LiveTarget]:
        """Live datasets (folded name → where they live), asked of the directory once per generation."""
        cached = self._live
        if cached and cached[0] == self._generation:
            return cached[1]
        ask = getattr(self.directory, "live", None)
        live: Mapping[str, LiveTarget] = {}
        if ask is not None:
            cur = self.cursor()
            try:
                live = dict(ask(cur))
            finally:
                cur.close()
        self._live = (self._generation, live)
        return live

    def _route(self, sql: str, names: frozenset[str]) -> tuple[Engine, dict[str, exp.Table]] | None:
        """None when the accepted query reads only warehouse datasets (DuckDB runs it), else the engine
        of its live datasets and their source tables; a query mixing engines is refused for now."""
        live = self.live_datasets()
        if not live:
            return None
        folded = {fold(n) for n in names}
        read = {fold(t.name) for t in sqlglot.parse_one(sql, dialect="duckdb").find_all(exp.Table)
                if fold(t.name) in folded}
        targets = {n: live[n] for n in read if n in live}
        if not targets:
            return None
        keys = {t.engine_key for t in targets.values()}
        if len(keys) > 1 or len(targets) < len(read):
            raise QueryRejected("一个查询暂时不能同时读取不同位置的数据集（本地仓库与外部数据库，或两个外部数据库）。",
                                hint="请分别查询，或把其中一个数据集导入本地仓库",
                                detail=", ".join(sorted(read)))
        key = keys.pop()
        engine = self._engines.get(key)
        if engine is None:
            secret = None
            if key[1]:
                secret = SecretStore(self.path).get(key[1])
            engine = self._engines[key] = engine_for(key[0], secret)
        return engine, {n: t.table() for n, t in targets.items()}

    def _with_row_rules(self, sql: str, ctx: context.Context, names: frozenset[str], keywords: frozenset[str]
                        ) -> tuple[str, bool]:
        """The accepted text re-parsed, every dataset reference narrowed to `ctx`'s rows, and the
        result judged by the door again (what runs is what was checked)."""
        # the rewrite depends only on the text, the scope key (role, department, scope) and the
        # governance, which changes only with the generation
        key = (self._generation, ctx.scope_key(), sql)
        with self._rewrites_lock:
            hit = self._rewrites.get(key)
            if hit is not None:
                self._rewrites.move_to_end(key)
                return hit
        parsed = sqlglot.parse_one(sql, dialect="duckdb")  # the door parsed this very text already
        folded = frozenset(fold(n) for n in names)
        rewritten, narrowed = rowrules.apply(parsed, ctx, folded, self.governance())
        if not isinstance(rewritten, exp.Query):
            raise QueryRejected("只能执行查询（SELECT）语句。", detail=type(rewritten).__name__)
        done = (checked_sql(rewritten, names, keywords), narrowed)
        with self._rewrites_lock:
            self._rewrites[key] = done
            while len(self._rewrites) > 1024:
                self._rewrites.popitem(last=False)
        return done


def _unshowable(dtype: pa.DataType) -> str | None:
    """The first part of an Arrow type polars cannot take (it raises, or panics when nested)."""
    import pyarrow as pa

    if pa.types.is_interval(dtype):
        return "时间间隔（INTERVAL）"
    if pa.types.is_union(dtype):
        return "联合（UNION）"
    if pa.types.is_dictionary(dtype):
        return _unshowable(dtype.value_type)
    if pa.types.is_map(dtype):
        return _unshowable(dtype.key_type) or _unshowable(dtype.item_type)
    nested = getattr(dtype, "num_fields", 0)
    for i in range(nested):
        found = _unshowable(dtype.field(i).type)
        if found:
            return found
    return None


def _to_frame(table: pa.Table) -> pl.DataFrame:
    """Arrow → polars, with a Chinese refusal for result types polars cannot hold."""
    import pyarrow as pa

    for f in table.schema:
        label = _unshowable(f.type)
        if label:
            raise QueryRejected(f"查询结果中的列「{f.name}」是{label}类型，无法显示。",
                                hint="请把它换算成数字（例如天数）或转换为文本后再查询", detail=str(f.type))
    try:
        return pl.from_arrow(table)
    except (pl.exceptions.PolarsError, pa.ArrowException) as err:
        raise QueryRejected("查询结果中有无法显示的数据类型。", hint="请把相关列转换为数字或文本后再查询",
                            detail=f"{err}; {table.schema}") from err


def _apply_limit(tree: exp.Expression, limit: int) -> exp.Expression:
    """Cap the rows a query returns without changing its ordering."""
    if isinstance(tree, exp.Select):
        current = tree.args.get("limit")
        if current is not None:
            value = current.expression if isinstance(current, exp.Limit) else None
            if isinstance(value, exp.Literal) and value.is_int and int(value.this) <= limit:
                return tree
        return tree.limit(limit)  # sqlglot builders copy: the caller's tree is not changed
    return exp.select("*").from_(tree.subquery("q")).limit(limit, copy=False)
