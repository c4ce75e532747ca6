"""The Engine Protocol, the registry of engines by URL scheme, and the one transpile step.

The transpile step is shared so that every engine maps dataset names and reports dialect gaps
the same way: sqlglot is asked to RAISE on anything it cannot express in the target dialect.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import polars as pl
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError, UnsupportedError

from citybi.errors import QueryRejected
from citybi.querydoor import fold
from citybi.secrets import Secret


class Engine(Protocol):
    """A place a checked query runs. `run` takes an accepted tree (DuckDB dialect, dataset names)."""

    name: str
    dialect: str

    def run(self, query: exp.Expression | str, params: list[Any] | None, max_rows: int, timeout_s: float
            ) -> pl.DataFrame:
        """At most `max_rows` rows of the query's result, or QueryRejected (time-out, dialect gap, error)."""
        ...

    def close(self) -> None:
        ...


@dataclass(frozen=True)
class LiveTarget:
    """Where a live dataset's rows are: the engine URL (never a password) and its table there."""

    engine_url: str
    source_table: str  # schema.table (or table)
    secret: str | None = None  # the name of a secret in citybi.secrets, never its value

    @property
    def engine_key(self) -> tuple[str, str | None]:
        return (self.engine_url, self.secret)

    def table(self) -> exp.Table:
        parts = self.source_table.split(".")
        if len(parts) == 1:
            return exp.Table(this=exp.to_identifier(parts[0], quoted=True))
        if len(parts) == 2:
            return exp.Table(this=exp.to_identifier(parts[1], quoted=True), db=exp.to_identifier(parts[0], quoted=True))
        raise QueryRejected(f"源表名「{self.source_table}」无效。", hint="请写成 模式.表名，例如 public.环卫清运")


def location(target: LiveTarget | None) -> str:
    """Where a dataset lives, one Chinese line for the 数据集 page and the CLI (never a password)."""
    if target is None:
        return "存放位置：本地数据仓库（DuckDB）"
    scheme = _scheme(target.engine_url)
    if scheme in ("spark", "sc"):
        # urlsplit refuses local[2] (it reads the brackets as an IPv6 host)
        where = target.engine_url.partition("://")[2].partition("?")[0]
        how = "本机 Spark" if scheme == "spark" else "Spark Connect 集群"
        return f"存放位置：{how} {where} 的表 {target.source_table}（实时数据集：查询在 Spark 执行，不复制数据）"
    parts = urlsplit(target.engine_url)
    kind = {"postgresql": "PostgreSQL", "postgres": "PostgreSQL"}.get(scheme, parts.scheme)
    where = f"{parts.hostname}:{parts.port or ''}{parts.path}".replace(":/", "/") if parts.hostname else ""
    return f"存放位置：{kind} {where} 的表 {target.source_table}（实时数据集：查询在该数据库执行，不复制数据）"


EngineFactory = Callable[[str, Secret | None], Engine]
_REGISTRY: dict[str, EngineFactory] = {}


def register(schemes: tuple[str, ...], factory: EngineFactory) -> None:
    """Make `factory(url, secret)` the engine for URLs starting with any of `schemes`."""
    for scheme in schemes:
        _REGISTRY[scheme] = factory


def registered() -> list[str]:
    return sorted(_REGISTRY)


def _scheme(url: str) -> str:
    """The scheme of an engine URL (not urlsplit: it raises on spark://local[2])."""
    return url.partition("://")[0].lower() if "://" in url else ""


def engine_for(url: str, secret: Secret | None = None) -> Engine:
    scheme = _scheme(url)
    factory = _REGISTRY.get(scheme)
    if factory is None:
        known = "、".join(f"{s}://" for s in registered())
        raise QueryRejected(f"不支持的计算引擎地址「{scheme}://」。", hint=f"可用的引擎：{known}", detail=url)
    return factory(url, secret)


def to_dialect(tree: exp.Expression, dialect: str, tables: Mapping[str, exp.Table],
               params: list[Any] | None = None, fit: Callable[[exp.Expression], exp.Expression] | None = None
               ) -> str:
    """`tree` as `dialect` SQL, each dataset (folded name in `tables`) read from its source table and
    each `?` placeholder replaced by its value as a sqlglot literal (drivers differ on placeholders),
    then `fit` (the engine's own corrections where the same SQL means something else there).

    A construct the dialect cannot express raises a Chinese QueryRejected (never other numbers)."""
    tree = tree.copy()
    values = list(params or [])
    for table in list(tree.find_all(exp.Table)):
        target = tables.get(fold(table.name))
        if target is None:
            continue
        alias = table.args.get("alias")
        # the dataset's own name stays the alias, so columns qualified with it still bind
        alias = alias.copy() if alias is not None else exp.TableAlias(this=exp.to_identifier(table.name, quoted=True))
        new = target.copy()
        new.set("alias", alias)
        table.replace(new)
    for ph in list(tree.find_all(exp.Placeholder)):
        if not values:
            raise QueryRejected("查询参数个数不对。", detail=tree.sql("duckdb")[:200])
        ph.replace(exp.convert(values.pop(0)))
    if fit is not None:
        tree = fit(tree)
    try:
        return tree.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as err:
        raise QueryRejected(f"这个查询里有 {dialect} 引擎无法等价执行的写法，已停止（不会给出不同的数字）。",
                            hint="请换一种写法，或把这个数据集导入到本地仓库后再分析", detail=str(err)) from err
    except SqlglotError as err:
        raise QueryRejected("查询无法转换为该引擎的语句。", detail=str(err)) from err


def unique_names(names: list[str]) -> list[str]:
    """Result column names made unique the way DuckDB does (count, count_1, …): PostgreSQL names every
    unaliased COUNT(...) "count" and Spark lets a result hold one name twice, but a frame cannot."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else f"{name}_{n}")
    return out
