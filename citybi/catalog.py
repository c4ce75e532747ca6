"""The catalog: datasets, their columns and units, provenance and version history.

Why versions are physical tables behind a view: a user-visible dataset `环卫清运` is a VIEW
in schema main over `_citybi.ds_<id>_v<n>`. Replacing or appending writes a new version
table and re-points the view inside ONE transaction, so a failure leaves the previous
data exactly as it was, the previous version can be restored instantly, and SQL (and
external tools opening the file) simply see `环卫清运`.

Internal catalog statements are constant SQL with `?` parameters (no user text is ever
formatted into them); anything that names a user's table is built as a sqlglot tree.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import duckdb
import polars as pl
from sqlglot import exp

from citybi import audit, context, rowrules
from citybi.access import require
from citybi.config import Settings
from citybi.dictionaries import ValueDictionary
from citybi.engines import LiveTarget
from citybi.errors import NotFound, QueryRejected, UserFacingError
from citybi.querydoor import fold
from citybi.rowrules import Governance, detect_by_values, detect_columns
from citybi.schema import ColumnInfo, DatasetInfo
from citybi.usertext import check_visible
from citybi.validation import Rules
from citybi.warehouse import Warehouse

if TYPE_CHECKING:  # citybi.metrics (its models, YAML: ~0.1 s) loads with the first metric, not with every import
    from citybi.metrics import Metric

S = "_citybi"
WriteMode = Literal["create", "replace", "append"]
MODE_LABELS = {"create": "新建", "replace": "替换", "append": "追加", "restore": "恢复", "system": "系统"}

_SCHEMA_SQL = (
    f"CREATE SCHEMA IF NOT EXISTS {S}",
    f"""CREATE TABLE IF NOT EXISTS {S}.datasets (
        id INTEGER PRIMARY KEY, name VARCHAR NOT NULL UNIQUE, display_name VARCHAR,
        description VARCHAR, current_version INTEGER, synonyms VARCHAR DEFAULT '[]',
        column_notes VARCHAR DEFAULT '{{}}', created_at TIMESTAMP, updated_at TIMESTAMP)""",
    f"""CREATE TABLE IF NOT EXISTS {S}.versions (
        dataset_id INTEGER, version INTEGER, physical VARCHAR, row_count BIGINT, mode VARCHAR,
        source_file VARCHAR, sha256 VARCHAR, sheet VARCHAR, who VARCHAR, created_at TIMESTAMP,
        columns_json VARCHAR, plan_json VARCHAR, note VARCHAR, dropped BOOLEAN DEFAULT false,
        PRIMARY KEY (dataset_id, version))""",
    # readings a data source could not parse (citybi.sources): kept with the reason, never dropped.
    # Keyed by the payload's hash, so a reading the broker delivers again is kept once
    f"""CREATE TABLE IF NOT EXISTS {S}.source_quarantine (
        dataset VARCHAR, sha256 VARCHAR, source VARCHAR, place VARCHAR, reason VARCHAR, payload BLOB,
        received_at TIMESTAMP, PRIMARY KEY (dataset, sha256))""",
    # value dictionaries (citybi.dictionaries): a whole dictionary is one validated JSON document,
    # saved and replaced as a unit (a half-saved 行政区划 would map values to a missing parent)
    f"""CREATE TABLE IF NOT EXISTS {S}.dictionaries (
        name VARCHAR PRIMARY KEY, description VARCHAR, body_json VARCHAR, updated_at TIMESTAMP)""",
    # validation rules per dataset (citybi.validation), by the dataset's lower-cased name
    f"""CREATE TABLE IF NOT EXISTS {S}.dataset_rules (
        dataset VARCHAR PRIMARY KEY, rules_json VARCHAR, updated_at TIMESTAMP)""",
    # every run of a data source (citybi.refresh): started, ended, status, rows, the Chinese error.
    # Ids from a sequence: runs of different sources start on different threads at the same moment
    f"CREATE SEQUENCE IF NOT EXISTS {S}.source_run_ids",
    f"""CREATE TABLE IF NOT EXISTS {S}.source_runs (
        id BIGINT PRIMARY KEY, source VARCHAR NOT NULL, dataset VARCHAR, trigger VARCHAR,
        started_at TIMESTAMP, ended_at TIMESTAMP, status VARCHAR, rows_added BIGINT, rows_updated BIGINT,
        version INTEGER, message VARCHAR, duration_s DOUBLE)""",
    # where a source's last successful run stopped (watermark, ETag): written in the same
    # transaction as the rows it describes, so the two never disagree
    f"""CREATE TABLE IF NOT EXISTS {S}.source_state (
        source VARCHAR PRIMARY KEY, state_json VARCHAR, updated_at TIMESTAMP)""",
    # failed logins of names that are no account (citybi.accounts): locked exactly like a real one,
    # kept in the file so neither a restart nor a flood of other names resets them
    f"""CREATE TABLE IF NOT EXISTS {S}.login_failures (
        name VARCHAR PRIMARY KEY, failed_count INTEGER NOT NULL, locked_until TIMESTAMP, last_failed TIMESTAMP)""",
    # accounts (citybi.accounts): no row = open mode (a local operator); argon2 hashes only.
    # valid_after: tokens issued before it stop working (password changed, reset, disabled)
    f"""CREATE TABLE IF NOT EXISTS {S}.users (
        name VARCHAR PRIMARY KEY, role VARCHAR NOT NULL, department VARCHAR, districts_json VARCHAR,
        streets_json VARCHAR, password_hash VARCHAR NOT NULL, disabled BOOLEAN DEFAULT false,
        failed_count INTEGER DEFAULT 0, locked_until TIMESTAMP, must_change BOOLEAN DEFAULT false,
        valid_after TIMESTAMP, created_at TIMESTAMP, updated_at TIMESTAMP, last_login TIMESTAMP)""",
    # one row per login (the token's per-login id): idle expiry, logout, "signed in recently"
    f"""CREATE TABLE IF NOT EXISTS {S}.sessions (
        sid VARCHAR PRIMARY KEY, user_name VARCHAR NOT NULL, created_at TIMESTAMP, last_seen TIMESTAMP,
        ended_at TIMESTAMP, address VARCHAR)""",
    # the audit log (citybi.audit): append-only, each entry's hash chained to the previous one
    f"""CREATE TABLE IF NOT EXISTS {S}.audit (
        seq BIGINT PRIMARY KEY, logged_at TIMESTAMP NOT NULL, user_name VARCHAR, role VARCHAR, address VARCHAR,
        action VARCHAR NOT NULL, target VARCHAR, detail VARCHAR, prev_hash VARCHAR, hash VARCHAR NOT NULL)""",
    f"CREATE TABLE IF NOT EXISTS {S}.audit_meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    # who owns a dataset and which columns carry its rows' district/street (citybi.rowrules), by
    # the dataset's lower-cased name; set at import from the column names, changed by `datasets govern`
    f"""CREATE TABLE IF NOT EXISTS {S}.dataset_governance (
        dataset VARCHAR PRIMARY KEY, department VARCHAR, district_column VARCHAR, street_column VARCHAR,
        public BOOLEAN DEFAULT false, updated_at TIMESTAMP)""",
    # 预警 (citybi.alerts.history): every firing with its value, the rule as it was and the rows behind
    # it, and the delivery to each channel; the state per (rule, group) that keeps alerts from storming
    f"CREATE SEQUENCE IF NOT EXISTS {S}.alert_firing_ids",
    f"""CREATE TABLE IF NOT EXISTS {S}.alert_firings (
        id BIGINT PRIMARY KEY, rule VARCHAR NOT NULL, grp VARCHAR, event VARCHAR, fired_at TIMESTAMP, value DOUBLE,
        title VARCHAR, message VARCHAR, rule_yaml VARCHAR, rows_json VARCHAR, status VARCHAR,
        deliveries_json VARCHAR, sent_at TIMESTAMP, link VARCHAR)""",
    f"""CREATE TABLE IF NOT EXISTS {S}.alert_state (
        rule VARCHAR, grp VARCHAR, firing BOOLEAN, since TIMESTAMP, last_sent_at TIMESTAMP, value DOUBLE,
        updated_at TIMESTAMP, PRIMARY KEY (rule, grp))""",
    f"""CREATE TABLE IF NOT EXISTS {S}.alert_checks (
        rule VARCHAR PRIMARY KEY, checked_at TIMESTAMP, ok BOOLEAN, groups INTEGER, holding INTEGER,
        message VARCHAR, seconds DOUBLE)""",
    # named measures (citybi.metrics): one validated JSON definition each, by name
    f"""CREATE TABLE IF NOT EXISTS {S}.metrics (
        name VARCHAR PRIMARY KEY, dataset VARCHAR, body_json VARCHAR, updated_at TIMESTAMP)""",
    # live datasets (citybi.engines): rows stay in another engine; the URL carries no password, the
    # secret is a name in citybi.secrets. The dataset's columns are in its version row as for any other
    f"""CREATE TABLE IF NOT EXISTS {S}.live_datasets (
        dataset VARCHAR PRIMARY KEY, engine_url VARCHAR NOT NULL, source_table VARCHAR NOT NULL,
        secret VARCHAR, linked_at TIMESTAMP)""",
    # 数据质量 (citybi.quality): one report per written version, in the version's own transaction;
    # the counts the 数据质量 board reads are columns, the whole report is JSON
    f"""CREATE TABLE IF NOT EXISTS {S}.quality_reports (
        dataset_id INTEGER, version INTEGER, created_at TIMESTAMP, mode VARCHAR, score INTEGER,
        rows_read BIGINT, rows_kept BIGINT, rows_dropped BIGINT, rule_rows BIGINT, duplicate_rows BIGINT,
        report_json VARCHAR, PRIMARY KEY (dataset_id, version))""",
)
# the system dataset over the quality history (Catalog.ensure_quality_dataset): a catalog dataset
# like any other, so boards read it through the door; no department, not 公开 — only callers who may
# read every dataset (SYSTEM, 管理员, unrestricted 分析员/领导) read it (citybi.rowrules.may_read_dataset)
QUALITY_DATASET = "数据质量"
_QUALITY_COLUMNS = (("数据集", "text", "VARCHAR"), ("部门", "text", "VARCHAR"), ("版本", "integer", "INTEGER"),
                    ("导入时间", "timestamp", "TIMESTAMP"), ("日期", "date", "DATE"), ("方式", "text", "VARCHAR"),
                    ("得分", "integer", "INTEGER"), ("读入行数", "integer", "BIGINT"),
                    ("保留行数", "integer", "BIGINT"), ("去除行数", "integer", "BIGINT"),
                    ("违反规则行数", "integer", "BIGINT"), ("重复行数", "integer", "BIGINT"))
# constant SQL: no user text (the view's name is the constant above)
_QUALITY_VIEW = (
    f'CREATE OR REPLACE VIEW main."{QUALITY_DATASET}" AS SELECT d.name AS "数据集", '
    f"coalesce(g.department, '未设置部门') AS \"部门\", q.version AS \"版本\", q.created_at AS \"导入时间\", "
    f'CAST(q.created_at AS DATE) AS "日期", q.mode AS "方式", q.score AS "得分", q.rows_read AS "读入行数", '
    f'q.rows_kept AS "保留行数", q.rows_dropped AS "去除行数", q.rule_rows AS "违反规则行数", '
    f'q.duplicate_rows AS "重复行数" FROM {S}.quality_reports q JOIN {S}.datasets d ON d.id = q.dataset_id '
    f"LEFT JOIN {S}.dataset_governance g ON g.dataset = lower(d.name)"
)
RUN_STATUSES = {"running": "运行中", "ok": "成功", "failed": "失败", "skipped": "已跳过"}

POLARS_TO_LOGICAL: dict[type[pl.DataType], str] = {
    pl.String: "text", pl.Int64: "integer", pl.Int32: "year", pl.Int16: "integer", pl.Int8: "integer",
    pl.UInt8: "integer", pl.UInt16: "integer", pl.UInt32: "integer", pl.UInt64: "integer",
    pl.Float64: "number", pl.Float32: "number", pl.Date: "date", pl.Datetime: "timestamp",
    pl.Boolean: "boolean", pl.Decimal: "number",
}


def ensure_schema(cur: duckdb.DuckDBPyConnection) -> None:
    for stmt in _SCHEMA_SQL:
        cur.execute(stmt)


class Quarantinable(Protocol):
    """A reading that could not be parsed: where it came from, why, and its bytes."""

    where: str
    reason: str
    payload: bytes


class CatalogDirectory:
    """The catalog as the warehouse's dataset directory (warehouse.DatasetDirectory)."""

    def setup(self, cur: duckdb.DuckDBPyConnection) -> None:
        ensure_schema(cur)
        _backfill_governance(cur)

    def names(self, cur: duckdb.DuckDBPyConnection) -> list[str]:
        return [r[0] for r in cur.execute(f"SELECT name FROM {S}.datasets").fetchall()]

    def governance(self, cur: duckdb.DuckDBPyConnection) -> dict[str, Governance]:
        return _governance_rows(cur)

    def live(self, cur: duckdb.DuckDBPyConnection) -> dict[str, LiveTarget]:
        rows = cur.execute(f"SELECT d.name, l.engine_url, l.source_table, l.secret FROM {S}.live_datasets l "
                           f"JOIN {S}.datasets d ON lower(d.name) = l.dataset").fetchall()
        return {fold(r[0]): LiveTarget(engine_url=r[1], source_table=r[2], secret=r[3]) for r in rows}


def _backfill_governance(cur: duckdb.DuckDBPyConnection) -> None:
    """Datasets imported before governance existed get their 区/街道 columns from their names
    (no department: only an admin can give them one), so a restricted user can still read them."""
    rows = cur.execute(
        f"SELECT d.name, v.columns_json FROM {S}.datasets d JOIN {S}.versions v "
        f"ON v.dataset_id = d.id AND v.version = d.current_version "
        f"WHERE lower(d.name) NOT IN (SELECT dataset FROM {S}.dataset_governance)").fetchall()
    for name, columns_json in rows:
        district, street = detect_columns([c["name"] for c in json.loads(columns_json or "[]")])
        cur.execute(f"INSERT INTO {S}.dataset_governance VALUES (lower(?), NULL, ?, ?, false, ?)",
                    [name, district, street, dt.datetime.now()])


def _governance_rows(cur: duckdb.DuckDBPyConnection) -> dict[str, Governance]:
    # keyed the way the door folds names (ASCII-only lower case), from the dataset's real name
    rows = cur.execute(f"SELECT d.name, g.department, g.district_column, g.street_column, g.public "
                       f"FROM {S}.dataset_governance g JOIN {S}.datasets d ON lower(d.name) = g.dataset").fetchall()
    return {fold(r[0]): Governance(department=r[1], district_column=r[2], street_column=r[3], public=bool(r[4]))
            for r in rows}


def open_warehouse(settings: Settings | None = None, *, path: str | Path | None = None,
                   require_context: bool = False) -> Warehouse:
    """The warehouse file with its catalog: what the app, the CLI and tests open.

    The catalog's tables are created on first open, and the query door knows exactly the
    datasets the catalog lists (Warehouse itself never reads catalog tables).
    `require_context`: the web app's door refuses a query that arrives with no caller.
    """
    return Warehouse(settings, path=path, directory=CatalogDirectory(), require_context=require_context)


@dataclass(frozen=True)
class Provenance:
    """Where a version's rows came from."""

    source_file: str = ""
    # the file's SHA-256, or a data source batch's row digest; or a function that gives it, called in the
    # write's transaction after the rows are written (a source measures it with its quality report)
    sha256: str | Callable[[], str] = ""
    sheet: str = ""
    who: str = ""
    plan_json: str = ""
    note: str = ""
    # the version's quality report (citybi.quality.QualityReport as JSON), kept with the rows; or
    # a function that gives it, called inside the write's transaction after the rows are written
    # (the report is measured on another thread meanwhile: citybi.quality.meanwhile)
    quality_json: str | Callable[[], str] = ""


@dataclass(frozen=True)
class VersionInfo:
    version: int
    row_count: int
    mode: str
    source_file: str
    sha256: str
    sheet: str
    who: str
    created_at: dt.datetime
    current: bool
    note: str


@dataclass(frozen=True)
class SourceRun:
    """One run of a data source, as the history keeps it."""

    id: int
    source: str
    dataset: str
    trigger: str  # 定时 | 手动 | 命令行
    started_at: dt.datetime
    ended_at: dt.datetime | None
    status: str  # running | ok | failed | skipped
    rows_added: int
    rows_updated: int
    version: int | None
    message: str  # Chinese: the error, or what the run noticed
    duration_s: float | None

    @property
    def status_label(self) -> str:
        return RUN_STATUSES.get(self.status, self.status)


@dataclass(frozen=True)
class WriteResult:
    dataset: str
    version: int
    mode: str
    rows_written: int  # rows in the new version
    rows_added: int
    rows_updated: int


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _user_table(name: str) -> exp.Table:
    return exp.Table(this=_ident(name), db=_ident("main"))


class _ArrowStream:
    """A frame as DuckDB scans it: through the Arrow C stream interface.

    DuckDB reads a polars DataFrame through one `to_arrow()` copy of every column first (45 ms for a
    data source's 1,000,000 rows); the C stream hands over polars' own buffers. Each scan asks for a
    fresh stream, so a staged frame can be read more than once. The schema is given on its own
    (`__arrow_c_schema__`, the same Arrow schema the stream carries): without it DuckDB exported the
    whole frame once more only to learn the column types (17 ms for those 1,000,000 rows).
    """

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    def __arrow_c_schema__(self) -> object:
        return self.frame.schema.__arrow_c_schema__()

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self.frame.__arrow_c_stream__(requested_schema)


def _physical(name: str) -> exp.Table:
    return exp.Table(this=_ident(name), db=_ident(S))


def validate_name(name: str) -> str:
    """A dataset name users will type in questions and see in SQL."""
    # a zero-width space or bidi mark would make a second "环卫清运" that only looks the same
    clean = check_visible(name or "", "数据集名称")
    if not clean:
        raise UserFacingError("数据集名称不能为空。", hint="请填写一个中文或英文名称，例如「环卫清运」")
    if len(clean) > 64:
        raise UserFacingError("数据集名称太长（最多 64 个字符）。")
    if re.search(r"[\x00-\x1f\"`]", clean) or clean.lower().startswith(S):
        raise UserFacingError("数据集名称含有不允许的字符。", hint="请只使用中文、字母、数字、下划线和括号")
    return clean


class Catalog:
    """Reads and writes dataset metadata and versions in the warehouse."""

    def __init__(self, wh: Warehouse) -> None:
        self.wh = wh

    # ------------------------------------------------------------------ reading

    def names(self) -> list[str]:
        return [r[0] for r in self.wh.fetchall(f"SELECT name FROM {S}.datasets ORDER BY id")]

    # ------------------------------------------------------------------ quarantine (source readings that did not parse)
    @staticmethod
    def add_quarantine(cur: duckdb.DuckDBPyConnection, dataset: str, source: str, items: Iterable[Quarantinable]
                       ) -> None:
        """Keep readings that could not be parsed, with the reason, inside the caller's transaction.

        The same reading (source position + payload) is kept once however often it is re-sent."""
        now = dt.datetime.now()
        for q in items:
            sha = hashlib.sha256(q.where.encode() + b"\x00" + q.payload).hexdigest()
            cur.execute(f"INSERT OR IGNORE INTO {S}.source_quarantine VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [dataset, sha, source[:1000], q.where[:500], q.reason[:1000], q.payload[:65536], now])

    def record_quarantine(self, dataset: str, source: str, items: Iterable[Quarantinable]) -> None:
        """Quarantine readings in a transaction of their own (when a batch had nothing else to write)."""
        with self.wh.transaction() as cur:
            self.add_quarantine(cur, dataset, source, items)

    def quarantine_count(self, dataset: str) -> int:
        return int(self.wh.fetchall(f"SELECT count(*) FROM {S}.source_quarantine WHERE dataset = ?", [dataset])[0][0])

    # ------------------------------------------------------------------ value dictionaries (数据标准)
    def save_dictionary(self, d: ValueDictionary) -> None:
        """Create or replace a dictionary (by name, case-insensitively), in one transaction."""
        require("standards.manage")
        name = check_visible(d.name, "字典名称")
        with self.wh.transaction() as cur:
            cur.execute(f"DELETE FROM {S}.dictionaries WHERE lower(name) = lower(?)", [name])
            cur.execute(f"INSERT INTO {S}.dictionaries VALUES (?, ?, ?, ?)",
                        [name, d.description, d.model_copy(update={"name": name}).model_dump_json(),
                         dt.datetime.now()])

    def dictionaries(self) -> list[ValueDictionary]:
        return [ValueDictionary.model_validate_json(r[0])
                for r in self.wh.fetchall(f"SELECT body_json FROM {S}.dictionaries ORDER BY name")]

    def dictionary(self, name: str) -> ValueDictionary:
        rows = self.wh.fetchall(f"SELECT body_json FROM {S}.dictionaries WHERE lower(name) = lower(?)", [name])
        if not rows:
            raise NotFound(f"数据标准字典「{name}」不存在。", hint="可用 citybi dictionaries list 查看已有的字典")
        return ValueDictionary.model_validate_json(rows[0][0])

    def delete_dictionary(self, name: str) -> bool:
        require("standards.manage")
        with self.wh.transaction() as cur:
            gone = cur.execute(f"DELETE FROM {S}.dictionaries WHERE lower(name) = lower(?) RETURNING name",
                               [name]).fetchall()
        return bool(gone)

    # ------------------------------------------------------------------ metrics (指标, citybi.metrics)
    def metrics(self, dataset: str | None = None) -> list[Metric]:
        """All metrics, or one dataset's (a per-X metric belongs to the dataset of its numerator)."""
        if dataset is None:
            rows = self.wh.fetchall(f"SELECT body_json FROM {S}.metrics ORDER BY dataset, name")
        else:
            rows = self.wh.fetchall(f"SELECT body_json FROM {S}.metrics WHERE lower(dataset) = lower(?) ORDER BY name",
                                    [dataset])
        from citybi.metrics import Metric

        return [Metric.model_validate_json(r[0]) for r in rows]

    def save_metrics(self, metrics: list[Metric], *, replace: str | None = None) -> None:
        """Check metrics against the datasets and the other metrics, then save them in one transaction
        (an existing metric of the same name is replaced; `replace` renames the one being edited)."""
        from citybi.metrics import MetricError, check, references

        require("metrics.manage")
        known = {m.name: m for m in self.metrics() if m.name != replace}
        if replace is not None and replace not in {m.name for m in metrics}:  # a rename
            users = [m.name for m in known.values() if replace in references(m)]
            if users:
                raise MetricError(f"指标「{replace}」被「{'、'.join(users)}」引用，不能改名；请先修改引用它的指标。")
        known.update({m.name: m for m in metrics})
        infos = {n: self.get(n) for n in self.names()}
        for m in metrics:
            check(m, infos, known)
        with self.wh.transaction() as cur:
            if replace is not None:
                cur.execute(f"DELETE FROM {S}.metrics WHERE name = ?", [replace])
            for m in metrics:
                cur.execute(f"DELETE FROM {S}.metrics WHERE name = ?", [m.name])
                cur.execute(f"INSERT INTO {S}.metrics VALUES (?, ?, ?, ?)",
                            [check_visible(m.name, "指标名称"), m.dataset, m.model_dump_json(), dt.datetime.now()])

    def delete_metric(self, name: str) -> bool:
        """Remove a metric; refused while another metric is built on it."""
        from citybi.metrics import MetricError, references

        require("metrics.manage")
        users = [m.name for m in self.metrics() if name in references(m)]
        if users:
            raise MetricError(f"指标「{name}」被「{'、'.join(users)}」引用，请先删除或修改它们。")
        with self.wh.transaction() as cur:
            gone = cur.execute(f"DELETE FROM {S}.metrics WHERE name = ? RETURNING name", [name]).fetchall()
        return bool(gone)

    def set_rules(self, name: str, rules: Rules) -> None:
        """Replace a dataset's validation rules (empty rules remove them)."""
        require("standards.manage")
        real = self._dataset_row(name)[1]
        with self.wh.transaction() as cur:
            cur.execute(f"DELETE FROM {S}.dataset_rules WHERE dataset = lower(?)", [real])
            if not rules.empty():
                cur.execute(f"INSERT INTO {S}.dataset_rules VALUES (lower(?), ?, ?)",
                            [real, rules.model_dump_json(), dt.datetime.now()])

    def rules(self, name: str) -> Rules:
        rows = self.wh.fetchall(f"SELECT rules_json FROM {S}.dataset_rules WHERE dataset = lower(?)", [name])
        return Rules.model_validate_json(rows[0][0]) if rows else Rules()

    def rows_already_in(self, name: str, frame: pl.DataFrame, key_columns: list[str] | None = None) -> int | None:
        """How many rows of `frame` equal a row of the dataset's current version, before an append.

        Compared on the key columns when given, else on every column both have (NULL equals NULL),
        each side cast to the dataset's type. None when the frame cannot be compared (no common
        column, or values that do not cast: the append itself would say why)."""
        ds_id, _n, _d, _desc, current, *_ = self._dataset_row(name)
        physical, columns_json = self.wh.fetchall(
            f"SELECT physical, columns_json FROM {S}.versions WHERE dataset_id = ? AND version = ?",
            [ds_id, current])[0]
        old = {c["name"]: c["duckdb_type"] for c in json.loads(columns_json)}
        on = [k for k in (key_columns or [c for c in frame.columns if c in old]) if k in old and k in frame.columns]
        if not on:
            return None
        staged = f"__citybi_dupcheck_{uuid.uuid4().hex}"
        same = exp.and_(*[
            exp.NullSafeEQ(this=exp.Cast(this=exp.column(c, table="o", quoted=True), to=exp.DataType.build(old[c])),
                           expression=exp.Cast(this=exp.column(c, table="n", quoted=True),
                                               to=exp.DataType.build(old[c])))
            for c in on
        ])
        inner = exp.select("1").from_(_physical(physical).as_("o")).where(same)
        query = exp.select(exp.Count(this=exp.Star())).from_(exp.to_table(staged, quoted=True).as_("n")).where(
            exp.Exists(this=inner))
        cur = self.wh.cursor()
        try:
            cur.register(staged, frame.select(on))
            return int(cur.execute(query.sql(dialect="duckdb")).fetchall()[0][0])
        except duckdb.Error:
            return None
        finally:
            with contextlib.suppress(duckdb.Error):
                cur.unregister(staged)
            cur.close()
    # ------------------------------------------------------------------ data-source runs and state
    _RUN_COLUMNS = ("id, source, dataset, trigger, started_at, ended_at, status, rows_added, rows_updated, version, "
                    "message, duration_s")

    def start_source_run(self, source: str, dataset: str, trigger: str) -> int:
        """Record that a run began (status running); returns its id for finish_source_run."""
        with self.wh.transaction() as cur:
            run_id = int(cur.execute(f"SELECT nextval('{S}.source_run_ids')").fetchall()[0][0])
            cur.execute(f"INSERT INTO {S}.source_runs VALUES (?, ?, ?, ?, ?, NULL, 'running', 0, 0, NULL, '', NULL)",
                        [run_id, source, dataset, trigger, dt.datetime.now()])
        return run_id

    def finish_source_run(self, run_id: int, *, status: str, rows_added: int = 0, rows_updated: int = 0,
                          version: int | None = None, message: str = "") -> None:
        if status not in RUN_STATUSES or status == "running":
            raise ValueError(f"unknown run status {status!r}")
        now = dt.datetime.now()
        with self.wh.transaction() as cur:
            cur.execute(
                f"UPDATE {S}.source_runs SET ended_at = ?, status = ?, rows_added = ?, rows_updated = ?, version = ?, "
                f"message = ?, duration_s = date_diff('microsecond', started_at, ?) / 1e6 WHERE id = ?",
                [now, status, rows_added, rows_updated, version, message[:4000], now, run_id])

    def skipped_source_run(self, source: str, dataset: str, trigger: str, message: str) -> int:
        """A run that did not start because the previous one of the same source was still going."""
        run_id = self.start_source_run(source, dataset, trigger)
        self.finish_source_run(run_id, status="skipped", message=message)
        return run_id

    def close_interrupted_runs(self, message: str) -> int:
        """Runs left 'running' by a process that stopped (killed, power cut) become failed, with `message`.

        Called when the app starts: only one process writes the warehouse, so none of them is really running.
        """
        with self.wh.transaction() as cur:
            n = int(cur.execute(f"SELECT count(*) FROM {S}.source_runs WHERE status = 'running'").fetchall()[0][0])
            if n:
                cur.execute(f"UPDATE {S}.source_runs SET status = 'failed', message = ? WHERE status = 'running'",
                            [message])
        return n

    def source_runs(self, source: str | None = None, limit: int = 50) -> list[SourceRun]:
        """The newest runs first (of one source, or of all)."""
        where, params = ("WHERE source = ? ", [source]) if source is not None else ("", [])
        rows = self.wh.fetchall(f"SELECT {self._RUN_COLUMNS} FROM {S}.source_runs {where}ORDER BY id DESC LIMIT ?",
                                [*params, max(1, int(limit))])
        return [_source_run(r) for r in rows]

    def last_source_runs(self) -> dict[str, SourceRun]:
        """Each source's newest run (what the 数据源 page shows as 状态 / 上次运行)."""
        rows = self.wh.fetchall(f"SELECT {self._RUN_COLUMNS} FROM {S}.source_runs "
                                f"QUALIFY row_number() OVER (PARTITION BY source ORDER BY id DESC) = 1")
        return {r[1]: _source_run(r) for r in rows}

    def source_state(self, source: str) -> dict[str, Any]:
        rows = self.wh.fetchall(f"SELECT state_json FROM {S}.source_state WHERE source = ?", [source])
        return json.loads(rows[0][0]) if rows and rows[0][0] else {}

    @staticmethod
    def save_source_state(cur: duckdb.DuckDBPyConnection, source: str, state: dict[str, Any]) -> None:
        """Keep where a source stopped, inside the caller's transaction (the one writing its rows)."""
        cur.execute(f"INSERT OR REPLACE INTO {S}.source_state VALUES (?, ?, ?)",
                    [source, json.dumps(state, ensure_ascii=False, default=str), dt.datetime.now()])

    def set_source_state(self, source: str, state: dict[str, Any]) -> None:
        with self.wh.transaction() as cur:
            self.save_source_state(cur, source, state)

    def current_versions(self) -> dict[str, int]:
        """Every dataset's current version, keyed by its lower-cased name (what caches key on)."""
        return {r[0]: int(r[1]) for r in self.wh.fetchall(f"SELECT lower(name), current_version FROM {S}.datasets")}

    def department_of(self, name: str) -> str | None:
        """The department a dataset belongs to, for role checks (科员 write only their own).

        None when it has no owner (set one with `citybi datasets govern`): then only the role is checked."""
        return self.governance(name).department

    def exists(self, name: str) -> bool:
        return bool(self.wh.fetchall(f"SELECT 1 FROM {S}.datasets WHERE lower(name) = lower(?)", [name]))

    def _dataset_row(self, name: str) -> tuple[Any, ...]:
        rows = self.wh.fetchall(
            f"SELECT id, name, display_name, description, current_version, synonyms, column_notes, updated_at "
            f"FROM {S}.datasets WHERE lower(name) = lower(?)",
            [name],
        )
        if not rows:
            raise NotFound(f"数据集「{name}」不存在。", hint="请在「数据集」页查看已有的数据集")
        return rows[0]

    def get(self, name: str) -> DatasetInfo:
        ds_id, real, display, desc, current, syn, notes_json, updated = self._dataset_row(name)
        vrow = self.wh.fetchall(
            f"SELECT row_count, columns_json, source_file, mode FROM {S}.versions WHERE dataset_id = ? AND version = ?",
            [ds_id, current],
        )[0]
        if vrow[3] == "system":  # the 数据质量 view: its rows are the reports kept so far
            count = self.wh.fetchall(f"SELECT count(*) FROM {S}.quality_reports")[0][0]
            vrow = (count, *vrow[1:])
        notes: dict[str, dict[str, Any]] = json.loads(notes_json or "{}")
        cols = []
        for c in json.loads(vrow[1]):
            note = notes.get(c["name"], {})
            cols.append(ColumnInfo(
                name=c["name"], type=c["type"], duckdb_type=c["duckdb_type"],
                unit=note.get("unit", c.get("unit")), description=note.get("description", c.get("description", "")),
                synonyms=tuple(note.get("synonyms", [])),
            ))
        return DatasetInfo(
            name=real, display_name=display or real, description=desc or "", columns=tuple(cols),
            row_count=int(vrow[0]), version=int(current), synonyms=tuple(json.loads(syn or "[]")),
            updated_at=updated, source_file=vrow[2] or "", metrics=tuple(self.metrics(real)),
        )

    def live_target(self, name: str) -> LiveTarget | None:
        """Where a live dataset lives (None for a dataset held in this warehouse)."""
        rows = self.wh.fetchall(
            f"SELECT engine_url, source_table, secret FROM {S}.live_datasets WHERE dataset = lower(?)", [name])
        return LiveTarget(engine_url=rows[0][0], source_table=rows[0][1], secret=rows[0][2]) if rows else None

    def link_live(self, name: str, target: LiveTarget, columns: list[dict[str, Any]], who: str = "",
                  row_count: int = 0) -> None:
        """Register `name` as a live dataset: a version row with its columns (no rows, no physical table)
        and where it lives; its 区/街道 columns are detected as at import. One transaction."""
        require("datasets.upload")  # linking makes a new dataset, as an upload does
        name = validate_name(name)
        if self.exists(name):
            raise UserFacingError(f"数据集「{name}」已存在。", hint="请换一个名称")
        now = dt.datetime.now()
        with audit.durable(self.wh) as log, self.wh.transaction() as cur:
            ds_id = cur.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {S}.datasets").fetchall()[0][0]
            cur.execute(f"INSERT INTO {S}.datasets (id, name, display_name, description, current_version, "
                        f"created_at, updated_at) VALUES (?, ?, ?, '', 1, ?, ?)", [ds_id, name, name, now, now])
            cur.execute(f"INSERT INTO {S}.versions (dataset_id, version, physical, row_count, mode, source_file, who, "
                        f"created_at, columns_json) VALUES (?, 1, NULL, ?, 'link', ?, ?, ?, ?)",
                        [ds_id, row_count, f"{target.engine_url} {target.source_table}", who, now,
                         json.dumps(columns)])
            cur.execute(f"INSERT INTO {S}.live_datasets VALUES (lower(?), ?, ?, ?, ?)",
                        [name, target.engine_url, target.source_table, target.secret, now])
            district, street = detect_columns([c["name"] for c in columns])
            cur.execute(f"INSERT INTO {S}.dataset_governance VALUES (lower(?), NULL, ?, ?, false, ?)",
                        [name, district, street, now])
            # where it lives by engine kind and table only: a connection URL may carry a user or host detail
            log.append(cur, "datasets.link", name, {"engine": target.engine_url.split(":", 1)[0],
                                                    "source_table": target.source_table})

    def datasets(self) -> list[DatasetInfo]:
        return [self.get(n) for n in self.names()]

    def versions(self, name: str) -> list[VersionInfo]:
        ds_id, *_rest = self._dataset_row(name)
        current = _rest[3]
        rows = self.wh.fetchall(
            f"SELECT version, row_count, mode, source_file, sha256, sheet, who, created_at, note "
            f"FROM {S}.versions WHERE dataset_id = ? AND NOT dropped ORDER BY version DESC",
            [ds_id],
        )
        return [
            VersionInfo(version=r[0], row_count=r[1], mode=r[2], source_file=r[3] or "", sha256=r[4] or "",
                        sheet=r[5] or "", who=r[6] or "", created_at=r[7], current=r[0] == current, note=r[8] or "")
            for r in rows
        ]

    def version_types(self, name: str, version: int) -> dict[str, str]:
        """A kept version's columns (name → logical type): what restoring it would make current."""
        ds_id, *_ = self._dataset_row(name)
        rows = self.wh.fetchall(f"SELECT columns_json FROM {S}.versions WHERE dataset_id = ? AND version = ? "
                                f"AND NOT dropped", [ds_id, version])
        if not rows:
            raise NotFound(f"数据集「{name}」没有第 {version} 版（可能已被清理）。")
        return {c["name"]: c["type"] for c in json.loads(rows[0][0] or "[]")}

    def plan_json(self, name: str, version: int | None = None) -> str:
        ds_id, _n, _d, _desc, current, *_ = self._dataset_row(name)
        rows = self.wh.fetchall(f"SELECT plan_json FROM {S}.versions WHERE dataset_id = ? AND version = ?",
                                [ds_id, version or current])
        return rows[0][0] if rows else ""

    # ------------------------------------------------------------------ 数据质量 (citybi.quality)
    def quality_report(self, name: str, version: int | None = None) -> tuple[dt.datetime, str] | None:
        """(written at, report JSON) of a version (default: the current one); None: no report kept."""
        ds_id, _n, _d, _desc, current, *_ = self._dataset_row(name)
        rows = self.wh.fetchall(f"SELECT created_at, report_json FROM {S}.quality_reports "
                                f"WHERE dataset_id = ? AND version = ?", [ds_id, version or current])
        return (rows[0][0], rows[0][1]) if rows else None

    def quality_scores(self) -> dict[str, int]:
        """Each dataset's score from its current version's stored report (a dataset without one is absent)."""
        return {r[0]: int(r[1]) for r in self.wh.fetchall(
            f"SELECT d.name, q.score FROM {S}.datasets d JOIN {S}.quality_reports q "
            f"ON q.dataset_id = d.id AND q.version = d.current_version")}

    def current_frame(self, name: str, limit: int) -> pl.DataFrame | None:
        """At most `limit` rows of the current version (None: its rows are not in this warehouse)."""
        ds_id, _n, _d, _desc, current, *_ = self._dataset_row(name)
        physical = self.wh.fetchall(f"SELECT physical FROM {S}.versions WHERE dataset_id = ? AND version = ?",
                                    [ds_id, current])
        if not physical or not physical[0][0]:
            return None
        query = exp.select("*").from_(_physical(physical[0][0])).limit(max(1, int(limit)))
        cur = self.wh.cursor()
        try:
            out = pl.from_arrow(cur.sql(query.sql(dialect="duckdb")).to_arrow_table())
            assert isinstance(out, pl.DataFrame)
            return out
        finally:
            cur.close()

    def _is_system(self, name: str) -> bool:
        return bool(self.wh.fetchall(
            f"SELECT 1 FROM {S}.datasets d JOIN {S}.versions v "
            f"ON v.dataset_id = d.id AND v.version = d.current_version "
            f"WHERE lower(d.name) = lower(?) AND v.mode = 'system'", [name]))

    def ensure_quality_dataset(self) -> bool:
        """Make the system dataset 数据质量 (the quality history as a view) if it is not there.

        True when it was made. It has no department and is not 公开: SYSTEM, 管理员 and callers who may
        read every dataset read it; a 科员 or a district-limited user is refused by the row rules,
        since its rows name other departments' datasets. Refused when a user dataset has the name."""
        require("datasets.upload")
        if self.exists(QUALITY_DATASET):
            if not self._is_system(QUALITY_DATASET):
                raise UserFacingError(f"已有名为「{QUALITY_DATASET}」的数据集，无法建立数据质量看板的数据集。",
                                      hint="请先把该数据集改名或删除")
            return False
        now = dt.datetime.now()
        columns = [{"name": n, "type": t, "duckdb_type": d, "unit": None} for n, t, d in _QUALITY_COLUMNS]
        with self.wh.transaction() as cur:
            ds_id = cur.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {S}.datasets").fetchall()[0][0]
            cur.execute(_QUALITY_VIEW)
            cur.execute(f"INSERT INTO {S}.datasets (id, name, display_name, description, current_version, "
                        f"created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)",
                        [ds_id, QUALITY_DATASET, QUALITY_DATASET, "各数据集每次导入的质量得分和计数（系统维护）",
                         now, now])
            cur.execute(f"INSERT INTO {S}.versions (dataset_id, version, physical, row_count, mode, source_file, who, "
                        f"created_at, columns_json, note) VALUES (?, 1, NULL, 0, 'system', '', 'CityBI', ?, ?, ?)",
                        [ds_id, now, json.dumps(columns, ensure_ascii=False), "系统数据集：质量记录随每次导入更新"])
            cur.execute(f"DELETE FROM {S}.dataset_governance WHERE dataset = lower(?)", [QUALITY_DATASET])
            cur.execute(f"INSERT INTO {S}.dataset_governance VALUES (lower(?), NULL, NULL, NULL, false, ?)",
                        [QUALITY_DATASET, now])
        return True

    # ------------------------------------------------------------------ writing
    def write(
        self,
        name: str,
        frame: pl.DataFrame,
        *,
        mode: WriteMode = "create",
        units: dict[str, str | None] | None = None,
        column_types: dict[str, str] | None = None,
        key_columns: list[str] | None = None,
        provenance: Provenance | None = None,
        display_name: str | None = None,
        description: str | None = None,
        also: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    ) -> WriteResult:
        """Write a frame as a new version of a dataset, in one transaction.

        `also` runs inside the same transaction after the version is written (a data source's
        quarantined readings and run history): both are kept, or neither.
        """
        name = validate_name(name)
        prov = provenance or Provenance()
        exists = self.exists(name)
        if exists and self._is_system(name):
            raise UserFacingError(f"「{name}」是系统数据集（各数据集的质量记录），不能写入。",
                                  hint="请换一个数据集名称")
        if mode == "create" and exists:
            raise UserFacingError(f"数据集「{name}」已存在。", hint="请换一个名称，或选择「替换」或「追加」")
        if mode in ("replace", "append") and not exists:
            if mode == "append":
                raise NotFound(f"数据集「{name}」不存在，无法追加。", hint="请先新建该数据集")
            mode = "create"
        # a new dataset is checked as an upload, a new version of an existing one as a replace
        require("datasets.upload" if mode == "create" else "datasets.replace",
                department=None if mode == "create" else self.department_of(name))
        if frame.width == 0:
            raise UserFacingError("没有可写入的列。")
        frame, units, column_types, key_columns = _visible_columns(frame, units or {}, column_types or {},
                                                                   key_columns)
        columns = _columns_meta(frame, units or {}, column_types or {})
        # a new or replacing version is written with its ENUM columns in one pass (appending
        # unites old and new rows first, so it is encoded after, by _dictionary_encode)
        encoded = _enum_types(frame, columns) if mode != "append" else {}
        staged = "__citybi_incoming"
        # the audit entry commits with the version (citybi.audit: no write without its entry)
        with audit.durable(self.wh) as log, self.wh.transaction() as cur:
            cur.register(staged, _ArrowStream(frame))
            try:
                if mode == "create":
                    ds_id = int(cur.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {S}.datasets").fetchall()[0][0])
                    version = 1
                    now = dt.datetime.now()
                    cur.execute(
                        f"INSERT INTO {S}.datasets VALUES (?, ?, ?, ?, NULL, '[]', '{{}}', ?, ?)",
                        [ds_id, name, display_name or name, description or "", now, now],
                    )
                    # a new dataset belongs to the importer's department; its place columns by name,
                    # else by values (the 行政区划 dictionary's 区/街道 names)
                    district, street = detect_columns(list(frame.columns))
                    if district is None or street is None:
                        by_value = _place_columns_by_value(cur, frame)
                        district, street = district or by_value[0], street or by_value[1]
                    cur.execute(f"DELETE FROM {S}.dataset_governance WHERE dataset = lower(?)", [name])
                    cur.execute(f"INSERT INTO {S}.dataset_governance VALUES (lower(?), ?, ?, ?, false, ?)",
                                [name, context.effective().scope.department, district, street, now])
                    source: exp.Expression = _select_encoded(staged, frame.columns, encoded)
                    added, updated = frame.height, 0
                else:
                    ds_id, name, _disp, _desc, current, *_ = self._dataset_row_cur(cur, name)
                    version = int(cur.execute(
                        f"SELECT MAX(version) + 1 FROM {S}.versions WHERE dataset_id = ?", [ds_id]).fetchall()[0][0])
                    if mode == "replace":
                        source = _select_encoded(staged, frame.columns, encoded)
                        added, updated = frame.height, 0
                        # next month's file often lacks the unit line the first one had: keep known units
                        old_units = {c["name"]: c.get("unit") for c in json.loads(cur.execute(
                            f"SELECT columns_json FROM {S}.versions WHERE dataset_id = ? AND version = ?",
                            [ds_id, current]).fetchall()[0][0])}
                        columns = [{**c, "unit": c.get("unit") or old_units.get(c["name"])} for c in columns]
                    else:
                        old_cols = json.loads(cur.execute(
                            f"SELECT columns_json FROM {S}.versions WHERE dataset_id = ? AND version = ?",
                            [ds_id, current]).fetchall()[0][0])
                        _check_append_schema(name, old_cols, columns)
                        old_cols = _widen_decimals(old_cols, columns)
                        old_physical = f"ds_{ds_id}_v{current}"
                        source, added, updated = _append_source(cur, old_physical, staged, old_cols, key_columns)
                        columns = [
                            {**c, "unit": c.get("unit") or next(
                                (n.get("unit") for n in columns if n["name"] == c["name"]), None)}
                            for c in old_cols
                        ]
                physical = f"ds_{ds_id}_v{version}"
                create = exp.Create(this=_physical(physical), kind="TABLE", expression=source)
                cur.execute(create.sql(dialect="duckdb"))
                rows = int(cur.execute(exp.select(exp.Count(this=exp.Star())).from_(_physical(physical))
                                       .sql(dialect="duckdb")).fetchall()[0][0])
                _dictionary_encode(cur, physical, columns, rows, done=set(encoded))
                self._point_view(cur, name, physical)
                sha256 = prov.sha256() if callable(prov.sha256) else prov.sha256
                cur.execute(
                    f"INSERT INTO {S}.versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, false)",
                    [ds_id, version, physical, rows, mode, prov.source_file, sha256, prov.sheet, prov.who,
                     dt.datetime.now(), json.dumps(columns, ensure_ascii=False), prov.plan_json, prov.note],
                )
                cur.execute(
                    f"UPDATE {S}.datasets SET current_version = ?, updated_at = ?"
                    + (", display_name = ?" if display_name else "")
                    + (", description = ?" if description else "")
                    + " WHERE id = ?",
                    [version, dt.datetime.now(), *([display_name] if display_name else []),
                     *([description] if description else []), ds_id],
                )
                self._prune(cur, ds_id, version)
                if prov.quality_json:
                    body = prov.quality_json() if callable(prov.quality_json) else prov.quality_json
                    _record_quality(cur, ds_id, version, mode, body)
                if also is not None:
                    also(cur)
                log.append(cur, f"datasets.{mode}", name,
                           {"version": version, "rows": rows, "file": prov.source_file, "sha256": sha256})
            finally:
                # after a failed statement the transaction is aborted and unregister fails too:
                # that second error must not replace the first (e.g. "No space left on device")
                with contextlib.suppress(duckdb.Error):
                    cur.unregister(staged)
        return WriteResult(dataset=name, version=version, mode=mode, rows_written=rows,
                           rows_added=added, rows_updated=updated)

    def _dataset_row_cur(self, cur: duckdb.DuckDBPyConnection, name: str) -> tuple[Any, ...]:
        row = cur.execute(
            f"SELECT id, name, display_name, description, current_version FROM {S}.datasets "
            f"WHERE lower(name) = lower(?)", [name]).fetchall()
        if not row:
            raise NotFound(f"数据集「{name}」不存在。")
        return row[0]

    def _point_view(self, cur: duckdb.DuckDBPyConnection, name: str, physical: str) -> None:
        view = exp.Create(
            this=_user_table(name), kind="VIEW", replace=True,
            expression=exp.select("*").from_(_physical(physical)),
        )
        cur.execute(view.sql(dialect="duckdb"))

    def _prune(self, cur: duckdb.DuckDBPyConnection, ds_id: int, current: int) -> None:
        """Keep the newest `keep_versions` versions (and always the current one)."""
        keep = max(1, self.wh.settings.keep_versions)
        old = cur.execute(
            f"SELECT version, physical FROM {S}.versions WHERE dataset_id = ? AND NOT dropped "
            f"ORDER BY version DESC OFFSET ?", [ds_id, keep]).fetchall()
        for version, physical in old:
            if version == current:
                continue
            cur.execute(exp.Drop(tables=[_physical(physical)], kind="TABLE", exists=True).sql(dialect="duckdb"))
            cur.execute(f"UPDATE {S}.versions SET dropped = true WHERE dataset_id = ? AND version = ?",
                        [ds_id, version])

    def restore(self, name: str, version: int) -> None:
        """Make an earlier version current again (the newer versions stay in the history)."""
        require("datasets.restore", department=self.department_of(name))
        with audit.durable(self.wh) as log, self.wh.transaction() as cur:
            ds_id, real, *_ = self._dataset_row_cur(cur, name)
            row = cur.execute(
                f"SELECT physical FROM {S}.versions WHERE dataset_id = ? AND version = ? AND NOT dropped",
                [ds_id, version]).fetchall()
            if not row:
                raise NotFound(f"数据集「{name}」没有第 {version} 版（可能已被清理）。")
            self._point_view(cur, real, row[0][0])
            cur.execute(f"UPDATE {S}.datasets SET current_version = ?, updated_at = ? WHERE id = ?",
                        [version, dt.datetime.now(), ds_id])
            log.append(cur, "datasets.restore", real, {"version": version})

    def delete(self, name: str) -> None:
        """Remove a dataset and every version of it."""
        require("datasets.delete", department=self.department_of(name))
        with audit.durable(self.wh) as log, self.wh.transaction() as cur:
            ds_id, real, *_ = self._dataset_row_cur(cur, name)
            cur.execute(exp.Drop(tables=[_user_table(real)], kind="VIEW", exists=True).sql(dialect="duckdb"))
            for (physical,) in cur.execute(
                    f"SELECT physical FROM {S}.versions WHERE dataset_id = ? AND NOT dropped AND physical IS NOT NULL",
                    [ds_id]).fetchall():
                cur.execute(exp.Drop(tables=[_physical(physical)], kind="TABLE", exists=True).sql(dialect="duckdb"))
            cur.execute(f"DELETE FROM {S}.versions WHERE dataset_id = ?", [ds_id])
            cur.execute(f"DELETE FROM {S}.datasets WHERE id = ?", [ds_id])
            cur.execute(f"DELETE FROM {S}.dataset_rules WHERE dataset = lower(?)", [real])
            cur.execute(f"DELETE FROM {S}.dataset_governance WHERE dataset = lower(?)", [real])
            cur.execute(f"DELETE FROM {S}.metrics WHERE lower(dataset) = lower(?)", [real])  # its metrics go too
            cur.execute(f"DELETE FROM {S}.live_datasets WHERE dataset = lower(?)", [real])
            # ids are reused (max + 1): a deleted dataset's history must not become the next one's
            cur.execute(f"DELETE FROM {S}.quality_reports WHERE dataset_id = ?", [ds_id])
            log.append(cur, "datasets.delete", real)

    def set_synonyms(self, name: str, synonyms: list[str], column: str | None = None) -> None:
        """Words users say for a dataset or a column (问数 matches them)."""
        clean = [s.strip() for s in synonyms if s and s.strip()]
        with self.wh.transaction() as cur:
            ds_id, *_ = self._dataset_row_cur(cur, name)
            if column is None:
                cur.execute(f"UPDATE {S}.datasets SET synonyms = ? WHERE id = ?",
                            [json.dumps(clean, ensure_ascii=False), ds_id])
                return
            notes = json.loads(cur.execute(f"SELECT column_notes FROM {S}.datasets WHERE id = ?",
                                           [ds_id]).fetchall()[0][0] or "{}")
            notes.setdefault(column, {})["synonyms"] = clean
            cur.execute(f"UPDATE {S}.datasets SET column_notes = ? WHERE id = ?",
                        [json.dumps(notes, ensure_ascii=False), ds_id])

    def set_column_note(self, name: str, column: str, *, description: str | None = None,
                        unit: str | None = None) -> None:
        with self.wh.transaction() as cur:
            ds_id, *_ = self._dataset_row_cur(cur, name)
            notes = json.loads(cur.execute(f"SELECT column_notes FROM {S}.datasets WHERE id = ?",
                                           [ds_id]).fetchall()[0][0] or "{}")
            entry = notes.setdefault(column, {})
            if description is not None:
                entry["description"] = description
            if unit is not None:
                entry["unit"] = unit
            cur.execute(f"UPDATE {S}.datasets SET column_notes = ? WHERE id = ?",
                        [json.dumps(notes, ensure_ascii=False), ds_id])

    def governance(self, name: str) -> Governance:
        """Who owns dataset `name` and which columns carry its district/street (unset: all None)."""
        real = self._dataset_row(name)[1]
        rows = self.wh.fetchall(f"SELECT department, district_column, street_column, public "
                                f"FROM {S}.dataset_governance WHERE dataset = lower(?)", [real])
        if not rows:
            return Governance()
        r = rows[0]
        return Governance(department=r[0], district_column=r[1], street_column=r[2], public=bool(r[3]))

    def set_governance(self, name: str, gov: Governance) -> Governance:
        """Replace a dataset's governance; the district/street columns must be columns of it."""
        info = self.get(name)
        names = {c.name for c in info.columns}
        for label, column in (("区列", gov.district_column), ("街道列", gov.street_column)):
            if column is not None and column not in names:
                raise UserFacingError(f"数据集「{info.name}」没有名为「{column}」的列，不能设为{label}。",
                                      hint="可用的列：" + "、".join(c.name for c in info.columns))
        if gov.department is not None:
            check_visible(gov.department, "部门名称")
        with self.wh.transaction() as cur:
            cur.execute(f"DELETE FROM {S}.dataset_governance WHERE dataset = lower(?)", [info.name])
            cur.execute(f"INSERT INTO {S}.dataset_governance VALUES (lower(?), ?, ?, ?, ?, ?)",
                        [info.name, gov.department, gov.district_column, gov.street_column, gov.public,
                         dt.datetime.now()])
        return gov

    def visible_rows(self, info: DatasetInfo, run: Callable[[exp.Expression], Any] | None = None) -> int | None:
        """How many of the dataset's rows the caller may see: the stored count when no row rule applies
        to them, else a count through the door (row rule applied); None when they may see none of it.

        A whole-table count shown to a 临江区 user tells them how much the other districts have.
        `run` is the door the count goes through (a page passes the result cache's); a QueryResult back."""
        if not rowrules.restricted(self.wh.caller()):
            return info.row_count
        tree = exp.select(exp.Count(this=exp.Star())).from_(_user_table(info.name))
        try:
            result = run(tree) if run is not None else self.wh.run(tree, max_rows=1)
            return int(result.frame.item(0, 0) or 0)
        except QueryRejected:
            return None

    def preview(self, name: str, limit: int = 100) -> pl.DataFrame:
        """The first rows of a dataset, through the query door like any user query."""
        info = self.get(name)
        tree = exp.select("*").from_(_user_table(info.name)).limit(limit)
        return self.wh.run(tree, max_rows=limit).frame


def _place_columns_by_value(cur: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> tuple[str | None, str | None]:
    """District/street columns whose values are 行政区划 names (when the dictionary exists)."""
    rows = cur.execute(f"SELECT body_json FROM {S}.dictionaries WHERE name = '行政区划'").fetchall()
    if not rows:
        return None, None
    d = ValueDictionary.model_validate_json(rows[0][0])
    levels = {level: set(d.values(level)) for level in ("区", "街道")}
    values: dict[str, set[str]] = {}
    for name, dtype in frame.schema.items():
        if dtype == pl.String:
            distinct = frame.get_column(name).drop_nulls().unique()
            if 0 < distinct.len() <= 2000:  # coded columns only, not free text
                values[name] = set(distinct.to_list())
    return detect_by_values(values, levels)


def _record_quality(cur: duckdb.DuckDBPyConnection, ds_id: int, version: int, mode: str, body: str) -> None:
    """Keep a version's quality report inside the version's transaction, and move the 数据质量 system
    dataset's version on, so results cached for it (keyed by versions) are read again."""
    r = json.loads(body)
    cur.execute(f"INSERT OR REPLACE INTO {S}.quality_reports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [ds_id, version, dt.datetime.now(), mode, int(r.get("score", 0)), int(r.get("rows_read", 0)),
                 int(r.get("rows_kept", 0)), int(r.get("rows_dropped", 0)), int(r.get("rows_breaking_rules", 0)),
                 int(r.get("duplicate_rows", 0)), body])
    system = cur.execute(
        f"SELECT d.id, d.current_version FROM {S}.datasets d JOIN {S}.versions v ON v.dataset_id = d.id "
        f"AND v.version = d.current_version WHERE lower(d.name) = lower(?) AND v.mode = 'system'",
        [QUALITY_DATASET]).fetchall()
    if system:
        sys_id, current = system[0]
        cur.execute(f"UPDATE {S}.versions SET version = ? WHERE dataset_id = ? AND version = ?",
                    [current + 1, sys_id, current])
        cur.execute(f"UPDATE {S}.datasets SET current_version = ?, updated_at = ? WHERE id = ?",
                    [current + 1, dt.datetime.now(), sys_id])


def _source_run(r: tuple[Any, ...]) -> SourceRun:
    return SourceRun(id=int(r[0]), source=r[1], dataset=r[2] or "", trigger=r[3] or "", started_at=r[4], ended_at=r[5],
                     status=r[6], rows_added=int(r[7] or 0), rows_updated=int(r[8] or 0),
                     version=None if r[9] is None else int(r[9]), message=r[10] or "",
                     duration_s=None if r[11] is None else float(r[11]))


# Text columns with few distinct values in big tables are stored as ENUM: group-by on a
# district was 3.5-6x faster than on VARCHAR over 10M rows (docs/ARCHITECTURE.md § DuckDB).
# Values are sorted so ORDER BY/MIN/MAX behave as on text; comparisons with values not in the
# ENUM simply match nothing. The catalog keeps calling the column "text".
ENUM_MIN_ROWS = 10_000
ENUM_MAX_VALUES = 2_000
# rows that first rule out a many-valued text column (_enum_types)
_ENUM_SAMPLE_ROWS = 20_000


def _enum(values: Iterable[Any]) -> exp.DataType:
    return exp.DataType(this=exp.DataType.Type.ENUM,
                        expressions=[exp.Literal.string(v) for v in sorted(set(map(str, values)))])


def _enum_types(frame: pl.DataFrame, columns: list[dict[str, Any]]) -> dict[str, exp.DataType]:
    """The ENUM each text column of a frame gets, chosen exactly as _dictionary_encode would choose it.

    Known before the write, so the version is created with them at once instead of written as
    text and rewritten by ALTER (one pass over the rows instead of two).
    """
    if frame.height < ENUM_MIN_ROWS:
        return {}
    texts = [c["name"] for c in columns if c["type"] == "text" and frame.schema[c["name"]] == pl.String]
    if not texts:
        return {}
    # The first rows rule out a many-valued column (more distinct values there means more in all); the
    # rest get their exact distinct values at once, every column in one select (polars runs them side by
    # side). An estimate over every row first, then the exact set, hashed each 1,000,000-row column twice.
    if frame.height > 4 * _ENUM_SAMPLE_ROWS:
        estimates = frame.select([pl.col(n).head(_ENUM_SAMPLE_ROWS).approx_n_unique() for n in texts]).row(0)
        texts = [n for n, k in zip(texts, estimates, strict=True) if k <= ENUM_MAX_VALUES * 1.2]
    if not texts:
        return {}
    found = frame.select([pl.col(n).drop_nulls().unique().implode() for n in texts]).row(0)
    return {n: _enum(values) for n, values in zip(texts, found, strict=True) if 0 < len(values) <= ENUM_MAX_VALUES}


def _select_encoded(staged: str, names: list[str], encoded: dict[str, exp.DataType]) -> exp.Select:
    """SELECT every staged column, those in `encoded` cast to their ENUM."""
    if not encoded:
        return exp.select("*").from_(exp.to_table(staged, quoted=True))
    return exp.select(*[
        exp.Cast(this=exp.column(n, quoted=True), to=encoded[n]).as_(n, quoted=True) if n in encoded
        else exp.column(n, quoted=True) for n in names
    ]).from_(exp.to_table(staged, quoted=True))


def _dictionary_encode(cur: duckdb.DuckDBPyConnection, physical: str, columns: list[dict[str, Any]],
                       rows: int, done: set[str] | None = None) -> None:
    """Store the few-valued text columns of a written version as ENUM (those in `done` already are)."""
    table = _physical(physical)
    texts = [c["name"] for c in columns if c["type"] == "text" and c["name"] not in (done or set())]
    if rows < ENUM_MIN_ROWS or not texts:
        return
    counts = cur.execute(exp.select(*[
        exp.ApproxDistinct(this=exp.column(n, quoted=True)) for n in texts
    ]).from_(table).sql(dialect="duckdb")).fetchall()[0]
    for name, approx in zip(texts, counts, strict=True):
        if approx > ENUM_MAX_VALUES * 1.2:
            continue
        values = [r[0] for r in cur.execute(
            exp.select(exp.column(name, quoted=True)).distinct().from_(table)
            .where(exp.column(name, quoted=True).is_(exp.null()).not_()).sql(dialect="duckdb")).fetchall()]
        if not values or len(values) > ENUM_MAX_VALUES:
            continue
        enum = _enum(values)
        alter = exp.Alter(this=table, kind="TABLE",
                          actions=[exp.AlterColumn(this=exp.to_identifier(name, quoted=True), dtype=enum)])
        cur.execute(alter.sql(dialect="duckdb"))


def _visible_columns(frame: pl.DataFrame, units: dict[str, str | None], types: dict[str, str],
                     keys: list[str] | None) -> tuple[pl.DataFrame, dict[str, str | None], dict[str, str],
                                                      list[str] | None]:
    """Refuse column names with invisible characters; write visible spaces as one ordinary space.

    The last line of defence for every writer (app, CLI, inbox, code): the importer already
    cleans what it reads from headers and refuses what the clerk types.
    """
    renamed = {c: check_visible(c, "列名") for c in frame.columns}
    if len(set(renamed.values())) < len(renamed):
        raise UserFacingError("有两列的名称只差在空格的写法上（例如全角空格和普通空格），无法区分。",
                              hint="请把其中一列改名")
    if all(k == v for k, v in renamed.items()):
        return frame, units, types, keys
    return (frame.rename(renamed), {renamed.get(k, k): v for k, v in units.items()},
            {renamed.get(k, k): v for k, v in types.items()}, [renamed.get(k, k) for k in keys] if keys else keys)


def _columns_meta(frame: pl.DataFrame, units: dict[str, str | None], types: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for name, dtype in frame.schema.items():
        base = dtype.base_type()
        logical = types.get(name) or POLARS_TO_LOGICAL.get(type(dtype), POLARS_TO_LOGICAL.get(base, "text"))
        out.append({"name": name, "type": logical, "duckdb_type": _duckdb_type(dtype), "unit": units.get(name)})
    return out


def _duckdb_type(dtype: pl.DataType) -> str:
    base = dtype.base_type()
    if isinstance(dtype, pl.Decimal):  # a database's numeric(10,2) stays exact (sums to the cent)
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    return {
        pl.String: "VARCHAR", pl.Int64: "BIGINT", pl.Int32: "INTEGER", pl.Float64: "DOUBLE",
        pl.Float32: "FLOAT", pl.Date: "DATE", pl.Datetime: "TIMESTAMP", pl.Boolean: "BOOLEAN",
    }.get(base, str(dtype).upper())


def _check_append_schema(name: str, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
    """Appending needs the same columns with compatible types; say exactly what differs."""
    old_by = {c["name"]: c for c in old}
    new_by = {c["name"]: c for c in new}
    missing = [n for n in old_by if n not in new_by]
    extra = [n for n in new_by if n not in old_by]
    numeric = {"integer", "number"}
    clash = [
        f"{n}（原为{old_by[n]['type']}，新文件为{new_by[n]['type']}）"
        for n in old_by.keys() & new_by.keys()
        if old_by[n]["type"] != new_by[n]["type"]
        and not ({old_by[n]["type"], new_by[n]["type"]} <= numeric)
        and not (new_by[n]["duckdb_type"] == old_by[n]["duckdb_type"])
    ]
    if missing or extra or clash:
        parts = []
        if missing:
            parts.append("新文件缺少列：" + "、".join(missing))
        if extra:
            parts.append("新文件多出列：" + "、".join(extra))
        if clash:
            parts.append("类型不一致：" + "、".join(clash))
        raise UserFacingError(
            f"新文件的结构与数据集「{name}」不一致，无法追加。" + "；".join(parts),
            hint="请检查表头是否与上次相同，或改用「替换」",
        )


def _widen_decimals(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Old columns, each DECIMAL wide enough for the new rows too: appending never rounds a value.

    A source whose numeric has no declared scale lands at the scale its values use; a later
    fetch with one more decimal widens the column instead of rounding the new value.
    """
    new_by = {c["name"]: c for c in new}
    out = []
    for c in old:
        a, b = _decimal_ps(c["duckdb_type"]), _decimal_ps(new_by.get(c["name"], {}).get("duckdb_type", ""))
        if a and b and a != b:
            scale = max(a[1], b[1])
            digits = max(a[0] - a[1], b[0] - b[1])
            c = {**c, "duckdb_type": f"DECIMAL({min(38, digits + scale)},{scale})"}
        out.append(c)
    return out


def _decimal_ps(duckdb_type: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", duckdb_type or "")
    return (int(m[1]), int(m[2])) if m else None


def _append_source(
    cur: duckdb.DuckDBPyConnection, old_physical: str, staged: str, old_cols: list[dict[str, Any]],
    key_columns: list[str] | None,
) -> tuple[exp.Expression, int, int]:
    """SELECT for old rows (minus those whose key reappears) plus the new rows, in the old column order."""
    names = [c["name"] for c in old_cols]
    new_sel = exp.select(*[
        exp.Cast(this=exp.column(n, table="n", quoted=True), to=exp.DataType.build(c["duckdb_type"]))
        .as_(n, quoted=True) for n, c in zip(names, old_cols, strict=True)
    ]).from_(exp.to_table(staged, quoted=True).as_("n"))
    # old text columns may be stored as ENUM (see _dictionary_encode): read them back as text
    # so the union takes new values; the new version is dictionary-encoded afresh
    old_tbl = _physical(old_physical).as_("o")
    keys = [k for k in (key_columns or []) if k]
    unknown = [k for k in keys if k not in names]
    if unknown:
        raise UserFacingError("主键列不存在：" + "、".join(unknown), hint="请从数据集已有的列中选择主键列")
    old_sel = exp.select(*[
        exp.Cast(this=exp.column(n, table="o", quoted=True), to=exp.DataType.build(c["duckdb_type"]))
        .as_(n, quoted=True) for n, c in zip(names, old_cols, strict=True)
    ]).from_(old_tbl)
    updated = 0
    if keys:
        match = exp.and_(*[
            exp.column(k, table="o", quoted=True).eq(exp.column(k, table="n", quoted=True)) for k in keys
        ])
        sub = exp.select("1").from_(exp.to_table(staged, quoted=True).as_("n")).where(match)
        old_sel = old_sel.where(exp.Not(this=exp.Exists(this=sub)))
        count_q = exp.select(exp.Count(this=exp.Star())).from_(old_tbl).where(exp.Exists(this=sub))
        updated = int(cur.execute(count_q.sql(dialect="duckdb")).fetchall()[0][0])
    total_new = int(cur.execute(exp.select(exp.Count(this=exp.Star())).from_(exp.to_table(staged, quoted=True))
                                .sql(dialect="duckdb")).fetchall()[0][0])
    return exp.union(old_sel, new_sel, distinct=False), total_new - updated, updated
