"""Settings: where the warehouse lives and the limits that protect the server.

One frozen dataclass, read from environment variables (CITYBI_*) so that the app, the CLI
and the tests agree without passing a dozen arguments around. Defaults follow the
foundation issue: ~50 MB Excel, ~200 MB CSV, parsing in a child process with a memory cap.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = PROJECT_ROOT / "data" / "citybi.duckdb"
SAMPLE_DIR = PROJECT_ROOT / "datasets"
QUERIES_DIR = PROJECT_ROOT / "queries"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw and raw.strip().isdigit() else default


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


DEFAULT_TIMEZONE = "Asia/Shanghai"


def warehouse_timezone() -> str:
    """The zone clerks read times in (CITYBI_TIMEZONE): a time that carries a zone (a database's
    timestamptz, an API's 2024-03-01T08:00:00Z) is written as the clock reads in it."""
    return os.environ.get("CITYBI_TIMEZONE", "").strip() or DEFAULT_TIMEZONE


@dataclass(frozen=True)
class Limits:
    """Guards applied to every uploaded file before and while it is parsed."""

    max_excel_bytes: int = 50 * 1024 * 1024
    max_csv_bytes: int = 200 * 1024 * 1024
    # a zip (xlsx) may not unpack to more than this, nor at a higher ratio (zip bombs)
    max_unzipped_bytes: int = 1024 * 1024 * 1024
    max_zip_ratio: float = 200.0
    max_zip_entries: int = 10_000
    # declared sheet size (<dimension ref=…>) and real size caps
    max_rows: int = 2_000_000
    max_cols: int = 1_000
    max_cells: int = 60_000_000
    # the reader child process: address-space cap and wall-clock limit
    reader_memory_bytes: int = 6 * 1024 * 1024 * 1024
    reader_timeout_s: float = 300.0


@dataclass(frozen=True)
class QueryLimits:
    """Guards applied by `Warehouse.run`, the one door for user-driven queries."""

    max_rows: int = 100_000
    timeout_s: float = 30.0


@dataclass(frozen=True)
class YamlLimits:
    """Guards on YAML a user can write (boards, charts, import recipes), checked while the
    text is scanned, before any object is built: a 70 KB file of aliases once expanded to
    ten million values, and 5,000 nested brackets overflowed the parser's recursion."""

    max_bytes: int = 256 * 1024
    max_depth: int = 20  # a board tile's ratio condition's value list is 9 levels deep
    max_nodes: int = 50_000  # one 10,000-value filter is 10,000 nodes


@dataclass(frozen=True)
class RenderLimits:
    """What one chart may ask its renderer to draw. The query layer caps rows, not shape: a
    pivot of 10,000 rows with a high-cardinality series became 97 s and 1.65 GB of table.
    Each chart type measures its result's shape (categories, series, points, cells) before
    building anything; past a cap the chart is refused with a hint (filter or top-N)."""

    max_categories: int = 2_000  # bars, slices, axis labels along one axis
    max_series: int = 50  # traces / legend entries (series values × measures)
    max_points: int = 100_000  # marks drawn in total
    max_cells: int = 200_000  # table, pivot and heatmap cells
    max_columns: int = 200  # table / pivot columns
    budget_s: float = 20.0  # wall-clock budget for one render, checked between steps


def yaml_limits() -> YamlLimits:
    """YamlLimits from CITYBI_YAML_* environment variables (defaults otherwise)."""
    return YamlLimits(
        max_bytes=_env_int("CITYBI_YAML_MAX_KB", YamlLimits.max_bytes // 1024) * 1024,
        max_depth=_env_int("CITYBI_YAML_MAX_DEPTH", YamlLimits.max_depth),
        max_nodes=_env_int("CITYBI_YAML_MAX_NODES", YamlLimits.max_nodes),
    )


def render_limits() -> RenderLimits:
    """RenderLimits from CITYBI_RENDER_* environment variables (defaults otherwise)."""
    return RenderLimits(
        max_categories=_env_int("CITYBI_RENDER_MAX_CATEGORIES", RenderLimits.max_categories),
        max_series=_env_int("CITYBI_RENDER_MAX_SERIES", RenderLimits.max_series),
        max_points=_env_int("CITYBI_RENDER_MAX_POINTS", RenderLimits.max_points),
        max_cells=_env_int("CITYBI_RENDER_MAX_CELLS", RenderLimits.max_cells),
        max_columns=_env_int("CITYBI_RENDER_MAX_COLUMNS", RenderLimits.max_columns),
        budget_s=_env_float("CITYBI_RENDER_BUDGET_S", RenderLimits.budget_s),
    )


@dataclass(frozen=True)
class Settings:
    db_path: Path = DEFAULT_DB
    limits: Limits = field(default_factory=Limits)
    query: QueryLimits = field(default_factory=QueryLimits)
    yaml: YamlLimits = field(default_factory=YamlLimits)
    render: RenderLimits = field(default_factory=RenderLimits)
    # how many earlier versions of a dataset are kept after replace/append
    keep_versions: int = 10
    duckdb_threads: int = 0  # 0 = DuckDB's default (all cores)
    duckdb_memory_limit: str = ""  # "" = DuckDB's default (80% of RAM)
    # audit entries older than this are pruned (citybi.audit; 等保 2.0 asks for at least 6 months)
    audit_retention_days: int = 180
    # a login ends after this long without activity, and after this long in all (citybi.accounts)
    session_idle_minutes: int = 30
    session_max_hours: int = 12

    def with_db(self, path: str | Path) -> Settings:
        return replace(self, db_path=Path(path))

    @property
    def recipes_dir(self) -> Path:
        """Where saved import recipes live: beside the warehouse file, so each warehouse has its own.

        The one place that says so: the 数据导入 page, `citybi ingest` and the inbox all read it here.
        """
        return self.db_path.parent / "recipes"

    @property
    def sources_dir(self) -> Path:
        """Where data-source definitions live (citybi.sourcedefs): `<db>.sources/`, one YAML per source,
        beside the warehouse's secrets file and inbox, so each warehouse has its own sources."""
        return self.db_path.with_name(self.db_path.name + ".sources")


def load_settings(db: str | Path | None = None) -> Settings:
    """Settings from CITYBI_* environment variables, optionally overriding the DB path."""
    lim = Limits(
        max_excel_bytes=_env_int("CITYBI_MAX_EXCEL_MB", 50) * 1024 * 1024,
        max_csv_bytes=_env_int("CITYBI_MAX_CSV_MB", 200) * 1024 * 1024,
        max_rows=_env_int("CITYBI_MAX_ROWS", Limits.max_rows),
        max_cols=_env_int("CITYBI_MAX_COLS", Limits.max_cols),
        reader_memory_bytes=_env_int("CITYBI_READER_MEMORY_MB", 6 * 1024) * 1024 * 1024,
        reader_timeout_s=_env_float("CITYBI_READER_TIMEOUT_S", Limits.reader_timeout_s),
    )
    q = QueryLimits(
        max_rows=_env_int("CITYBI_QUERY_MAX_ROWS", QueryLimits.max_rows),
        timeout_s=_env_float("CITYBI_QUERY_TIMEOUT_S", QueryLimits.timeout_s),
    )
    path = Path(db) if db else Path(os.environ.get("CITYBI_DB", str(DEFAULT_DB)))
    return Settings(db_path=path, limits=lim, query=q, yaml=yaml_limits(), render=render_limits(),
                    audit_retention_days=max(1, _env_int("CITYBI_AUDIT_RETENTION_DAYS", 180)),
                    session_idle_minutes=max(1, _env_int("CITYBI_SESSION_IDLE_MINUTES", 30)),
                    session_max_hours=max(1, _env_int("CITYBI_SESSION_MAX_HOURS", 12)))
