"""Data sources into the warehouse: fetch (a source connector) → shape → the same catalog write as files.

Why here and not in each connector: a PostgreSQL table, a JSON feed and a batch of MQTT readings
must land exactly like an uploaded file — one transaction, a new version, provenance, append by
key columns so a re-fetch never doubles rows — and with ONE type mapping, so the same column
has the same type whichever way it arrived. A CSV feed is handed to the file importer itself.

Type mapping (what a source's column becomes in the warehouse; tests/test_sources_db.py):

| source type                                   | warehouse                      | catalog type |
| --------------------------------------------- | ------------------------------ | ------------ |
| integer of any width (int2/4/8, tinyint…)     | BIGINT                         | integer      |
| numeric(p,s) / decimal(p,s)                   | DECIMAL(p,s), exact            | number       |
| numeric without a scale                       | DECIMAL(38, scale its values use, ≤10) | number |
| real / double / float                         | DOUBLE                         | number       |
| date                                          | DATE                           | date         |
| timestamp (no zone), MySQL DATETIME           | TIMESTAMP as stored            | timestamp    |
| timestamp with time zone                      | TIMESTAMP in the warehouse's zone¹ | timestamp |
| MySQL 0000-00-00, 2024-00-00 (no strict mode) | NULL, counted in a note²       |              |
| boolean; MySQL BOOLEAN (tinyint(1) of 0/1), BIT(1) | BOOLEAN                   | boolean      |
| MySQL BIT(n)                                  | BIGINT (its number)            | integer      |
| text / varchar / char (UTF-8, GBK, utf8mb4)   | VARCHAR (Chinese kept)         | text         |
| time, interval, json, arrays, binary, others  | VARCHAR (the database's text)² | text         |
| MySQL GEOMETRY (POINT …)                      | VARCHAR (WKT: POINT(120.1 30.2)) | text       |
| JSON/GeoJSON feed values                      | typed like an uploaded file's cells (numbers, dates, 是/否…) |  |
| NULL                                          | NULL                           |              |

¹ the instant is kept and written as the clock reads in CITYBI_TIMEZONE (default Asia/Shanghai).
² connectorx panics on many of these (a PostgreSQL interval, money, point, bit, array of dates; a
  MySQL GEOMETRY, zero date or TIME beyond a day): connectors/postgresql.py and connectors/mysql.py
  ask the database for their text instead (tests/test_sources_db.py).
"""
from __future__ import annotations

import dataclasses
import getpass
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from citybi import quality
from citybi.catalog import Catalog, Provenance, WriteMode, WriteResult
from citybi.config import warehouse_timezone
from citybi.errors import UserFacingError
from citybi.secrets import Secret, SecretStore, redact
from citybi.validation import Rules
from citybi.warehouse import Warehouse
from connectors.source import Fetched, SourceConnector, SourceRejected, SourceRequest, column_names, source_for

# keeps where a source stopped, inside the transaction that writes its rows (cursor, state)
StateKeeper = Callable[[Any, dict[str, Any]], None]


@dataclass(frozen=True)
class SourceResult:
    """What one import of a source did (the CLI prints it, the scheduler keeps it as history)."""

    source: str  # the URL, passwords removed
    table: str
    status: str  # "ok" | "unchanged" (nothing new: HTTP 304, no messages)
    write: WriteResult | None
    received: int  # records/messages the source handed over
    quarantined: int
    notes: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)  # for the next run (ETag, Last-Modified)

    def outcome(self) -> dict[str, Any]:
        w = self.write
        return {
            "status": "ok", "result": self.status, "source": self.source, "table": self.table,
            "version": w.version if w else None, "mode": w.mode if w else None,
            "rows": w.rows_written if w else None, "rows_added": w.rows_added if w else 0,
            "rows_updated": w.rows_updated if w else 0, "received": self.received,
            "quarantined": self.quarantined, "notes": self.notes,
        }


def resolve_secret(wh_path: str | Path, name: str | None) -> Secret | None:
    return SecretStore(wh_path).get(name) if name else None


def import_source(
    wh: Warehouse,
    request: SourceRequest,
    *,
    table: str,
    mode: WriteMode = "create",
    key_columns: list[str] | None = None,
    who: str | None = None,
    keep_state: StateKeeper | None = None,
    before_replace: Callable[[dict[str, str]], None] | None = None,
) -> SourceResult:
    """Fetch a source and write its rows as a new version of `table` (all or nothing).

    `before_replace(types)` sees a replace's columns (name → logical type) before anything is
    written and may refuse it by raising (citybi.lineage: saved boards that the new columns break).

    A stream's readings are acknowledged only after the commit; on any failure they are
    abandoned, so the broker delivers them again and nothing is lost. `keep_state(cur, state)`
    runs inside each write's transaction with where the source stopped (a watermark, an ETag),
    so that state and rows are committed together or not at all.
    """
    connector = source_for(request.url)
    connector.check(request)
    catalog = Catalog(wh)
    if mode == "create" and catalog.exists(table):
        # refused before fetching: a stream's readings must not be taken and then thrown away
        raise UserFacingError(f"数据集「{table}」已存在。", hint="请换一个名称，或使用 --mode append / replace")
    fetched = _fetch(connector, request)
    results: list[SourceResult] = []
    current: Fetched | None = fetched
    while current is not None:
        try:
            result = _write(wh, catalog, current, table=table, mode=mode, key_columns=key_columns, who=who,
                            keep_state=keep_state, before_replace=before_replace)
        except BaseException:
            current.abandon()
            raise
        current.acknowledge()
        results.append(result)
        if result.write is not None:
            mode = "append"  # a stream's later micro-batches join the dataset the first one made
        current = current.next_batch() if current.next_batch is not None else None
    return _combined(results)


def _fetch(connector: SourceConnector, request: SourceRequest) -> Fetched:
    try:
        return connector.fetch(request)
    except UserFacingError:
        raise
    except Exception as err:  # a driver's surprise: its text may quote a secret, so only the scrubbed form
        raise SourceRejected(f"读取{connector.label}时出错（{type(err).__name__}）。",
                             hint="请检查数据源设置后重试；如果一直出现，请联系管理员",
                             detail=redact(str(err), request.secret)[:2000]) from None


@dataclass(frozen=True)
class SourcePreview:
    """A source's first rows as the import would write them, and what the import would make of them."""

    summary: str  # one Chinese line
    warnings: list[str]
    columns: list[tuple[str, str, str]]  # name, logical type, a few example values
    frame: pl.DataFrame


def preview_source(wh: Warehouse, request: SourceRequest) -> SourcePreview:
    """Read a source's first rows (nothing is written or acknowledged) and type them as the import would.

    Databases read only PREVIEW_ROWS rows; an MQTT topic is listened to for at most 5 seconds
    under a session of its own that ends with the preview (the source's own session is not
    touched, so no reading is taken from the next import); a CSV feed goes through the file
    importer's plan like an upload.
    """
    import uuid

    from connectors.source import PREVIEW_ROWS

    look = dataclasses.replace(request, preview=True, max_messages=PREVIEW_ROWS,
                               seconds=min(request.seconds or 5.0, 5.0), client_id=f"citybi-preview-{uuid.uuid4().hex}")
    connector = source_for(look.url)
    connector.check(look)
    fetched = _fetch(connector, look)
    try:
        if fetched.file is not None:
            from citybi.importer import prepare_file, standardized_frame

            prepared = prepare_file(wh, fetched.file, original_name=fetched.file_name or fetched.file.name)
            plan = prepared.plan
            return SourcePreview(summary=plan.summary_zh(), warnings=fetched.notes + plan.warnings,
                                 columns=[(c.name, c.type, "、".join(c.sample[:3])) for c in plan.columns],
                                 frame=standardized_frame(prepared).head(PREVIEW_ROWS))
        bad = [f"{len(fetched.quarantine)} 条消息无法解析，导入时会连同原因保存到隔离区。"] \
            if fetched.quarantine else []
        if fetched.frame is None or fetched.frame.height == 0:
            said = "没有读到数据行。" if fetched.frame is not None or fetched.quarantine \
                else "没有新数据（接口内容未变，或这段时间没有收到消息）。"
            return SourcePreview(summary=f"{connector.label}：{said}", warnings=fetched.notes + bad, columns=[],
                                 frame=pl.DataFrame())
        frame, types, notes = shape(fetched.frame.head(PREVIEW_ROWS), infer_text=fetched.infer_types)
        types.update(fetched.column_types)
        columns = [(n, types.get(n) or _logical(frame.schema[n]),
                    "、".join(str(v) for v in frame.get_column(n).drop_nulls().head(3).to_list()))
                   for n in frame.columns]
        return SourcePreview(summary=f"{connector.label}：{frame.width} 列，预览前 {frame.height} 行。",
                             warnings=fetched.notes + notes + bad, columns=columns, frame=frame)
    finally:
        fetched.abandon()  # nothing is acknowledged: a stream delivers these readings to the import again
        if fetched.file is not None:
            fetched.file.unlink(missing_ok=True)


def _logical(dtype: pl.DataType) -> str:
    from citybi.catalog import POLARS_TO_LOGICAL

    return POLARS_TO_LOGICAL.get(type(dtype), POLARS_TO_LOGICAL.get(dtype.base_type(), "text"))


def _combined(results: list[SourceResult]) -> SourceResult:
    """One result for a stream's micro-batches: totals, and the last version written."""
    if len(results) == 1:
        return results[0]
    writes = [r.write for r in results if r.write is not None]
    last = results[-1]
    write = None
    if writes:
        w = writes[-1]
        write = WriteResult(dataset=w.dataset, version=w.version, mode=writes[0].mode, rows_written=w.rows_written,
                            rows_added=sum(x.rows_added for x in writes),
                            rows_updated=sum(x.rows_updated for x in writes))
    notes = list(dict.fromkeys(n for r in results for n in r.notes))
    if len(writes) > 1:
        notes.append(f"分 {len(writes)} 批写入（每批提交后才确认消息）。")
    return SourceResult(source=last.source, table=last.table, status="ok" if write else "unchanged", write=write,
                        received=sum(r.received for r in results), quarantined=sum(r.quarantined for r in results),
                        notes=notes, state=last.state)


def _write(wh: Warehouse, catalog: Catalog, fetched: Fetched, *, table: str, mode: WriteMode,
           key_columns: list[str] | None, who: str | None, keep_state: StateKeeper | None = None,
           before_replace: Callable[[dict[str, str]], None] | None = None) -> SourceResult:
    keys = list(key_columns or fetched.key_columns)
    quarantine = fetched.quarantine
    if fetched.file is not None:
        return _write_file(wh, fetched, table=table, mode=mode, keys=keys, who=who, before_replace=before_replace)
    if fetched.frame is None or (fetched.frame.height == 0 and mode == "append"):
        if quarantine:
            Catalog(wh).record_quarantine(table, fetched.described, quarantine)
        return SourceResult(source=fetched.described, table=table, status="unchanged", write=None,
                            received=fetched.received, quarantined=len(quarantine), notes=fetched.notes,
                            state=fetched.state)
    # a feed's text column of the dataset being appended to stays text: values typed now (a newer
    # CityBI reading zoned times as timestamps) must not refuse the append as a changed column type
    kept = {c.name for c in catalog.get(table).columns if c.type == "text"} \
        if mode == "append" and fetched.infer_types and catalog.exists(table) else set()
    frame, types, notes = shape(fetched.frame, infer_text=fetched.infer_types, keep_text=kept)
    types.update(fetched.column_types)
    if keys:
        missing = [k for k in keys if k not in frame.columns]
        if missing:
            raise UserFacingError("主键列不存在：" + "、".join(missing), hint="可用的列：" + "、".join(frame.columns))
        before = frame.height
        frame = frame.unique(subset=keys, keep="last", maintain_order=True)
        repeated_keys = before - frame.height
        if frame.height < before:
            notes.append(f"同一批数据中有 {before - frame.height} 行主键重复，只保留了最后一行。")
    if mode == "append" and not catalog.exists(table):
        mode = "create"  # the first run of a source creates its dataset
    if mode == "replace" and before_replace is not None and catalog.exists(table):
        before_replace({n: types.get(n) or _logical(frame.schema[n]) for n in frame.columns})
    report_json, digest = _quality(catalog, table, frame, mode, fetched.described, len(quarantine),
                                   repeated_keys if keys else 0)
    prov = Provenance(source_file=fetched.described[:1000], sha256=digest, who=who or _user(),
                      plan_json=json.dumps({"source": fetched.described, "keys": keys, "types": types},
                                           ensure_ascii=False),
                      note=f"数据源导入 {frame.height} 行", quality_json=report_json)

    def also(cur: Any) -> None:
        if quarantine:
            Catalog.add_quarantine(cur, table, fetched.described, quarantine)
        if keep_state is not None:
            keep_state(cur, fetched.state)

    write = catalog.write(table, frame, mode=mode, column_types=types, key_columns=keys or None, provenance=prov,
                          also=also if (quarantine or keep_state is not None) else None)
    return SourceResult(source=fetched.described, table=table, status="ok", write=write, received=fetched.received,
                        quarantined=len(quarantine), notes=fetched.notes + notes, state=fetched.state)


def _quality(catalog: Catalog, table: str, frame: pl.DataFrame, mode: WriteMode, described: str,
             quarantined: int, repeated_keys: int) -> tuple[Callable[[], str], Callable[[], str]]:
    """The batch's quality report (citybi.quality) as JSON and the batch's row digest (_frame_hash),
    both measured beside the write (quality.meanwhile) from one hashing of the rows: the dataset's
    rules, repeated rows within the batch, unparsable readings as dropped rows. No Excel rows: a
    source has none."""
    rules = catalog.rules(table) if mode != "create" and catalog.exists(table) else Rules()
    dicts = catalog.dictionaries() if not rules.empty() else []
    digest: list[str] = []

    def work() -> quality.QualityReport:
        hashes = frame.hash_rows() if frame.height else None
        digest.append(_frame_hash(hashes))
        failures, bad, checked = quality.check_rules(frame, rules, dicts)
        repeated = int(quality.repeated_rows(frame, hashes).sum())
        return quality.measure(frame, failures=failures, rows_breaking_rules=bad, rules_checked=checked,
                               duplicates={"in_file": repeated}, basis="source", source=described[:1000],
                               mode=mode,
                               dropped={"无法解析（已隔离）": quarantined, "主键重复（保留最后一行）": repeated_keys})

    report_of = quality.meanwhile(work)

    def digest_of() -> str:
        report_of()  # waits for the work (and raises its error)
        return digest[0]

    return (lambda: report_of().model_dump_json()), digest_of


def _write_file(wh: Warehouse, fetched: Fetched, *, table: str, mode: WriteMode, keys: list[str],
                who: str | None, before_replace: Callable[[dict[str, str]], None] | None = None) -> SourceResult:
    """A CSV feed: the same sandboxed reader, header detection and typing as an uploaded file."""
    from citybi.importer import ingest_file

    assert fetched.file is not None
    try:
        if mode == "append" and not Catalog(wh).exists(table):
            mode = "create"
        guard = None if before_replace is None else (
            lambda plan: before_replace({c.name: c.type for c in plan.columns}))  # type: ignore[misc]
        res = ingest_file(wh, fetched.file, table=table, mode=mode, key_columns=keys or None, who=who,
                          original_name=fetched.file_name or fetched.file.name, before_replace=guard)
    finally:
        fetched.file.unlink(missing_ok=True)
    return SourceResult(source=fetched.described, table=table, status="ok", write=res.write,
                        received=res.write.rows_written, quarantined=0, notes=fetched.notes + res.plan.warnings,
                        state=fetched.state)


def shape(frame: pl.DataFrame, *, infer_text: bool = False,
          keep_text: set[str] | frozenset[str] = frozenset()) -> tuple[pl.DataFrame, dict[str, str], list[str]]:
    """A source's frame in warehouse types (the mapping in the module docstring), with notes;
    `keep_text`: text columns not typed (the dataset they are appended to has them as text)."""
    from citybi.ingest.types import convert

    tz = warehouse_timezone()
    cols: list[pl.Series] = []
    types: dict[str, str] = {}
    notes: list[str] = []
    for name in column_names(frame.columns):
        s = frame.get_column(frame.columns[len(cols)]).rename(name)
        dtype = s.dtype
        if dtype.is_integer():
            s = s.cast(pl.Decimal(20, 0)) if dtype == pl.UInt64 else s.cast(pl.Int64)
            types[name] = "integer"
        elif dtype == pl.Float32:
            s = s.cast(pl.Float64)
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            s = s.dt.convert_time_zone(tz).dt.replace_time_zone(None)
        elif dtype == pl.Null:
            s = s.cast(pl.String)
        elif isinstance(dtype, pl.List | pl.Array | pl.Struct | pl.Object) or dtype in (pl.Binary, pl.Time,
                                                                                       pl.Duration, pl.Categorical):
            s = _as_text(s)
            notes.append(f"列「{name}」的类型（{dtype}）在仓库中存为文本。")
        elif dtype == pl.String and infer_text:
            conv = convert(s, name, "text" if name in keep_text else None)
            s = conv.series.rename(name)
            types[name] = conv.type
            notes.extend(f"列「{name}」：{note}" for note in conv.notes)
            if conv.failed_count:
                samples = "、".join(conv.failed_samples)
                notes.append(f"列「{name}」有 {conv.failed_count} 个值无法识别为{conv.type}，已留空：{samples}")
        cols.append(s)
    return pl.DataFrame(cols), types, notes


def _as_text(s: pl.Series) -> pl.Series:
    try:
        return s.cast(pl.String)
    except Exception:  # lists, structs, binary: their readable form
        return pl.Series(s.name, [None if v is None else (json.dumps(v, ensure_ascii=False, default=str)
                                                          if isinstance(v, list | dict) else str(v))
                                  for v in s.to_list()], dtype=pl.String)


def _frame_hash(hashes: pl.Series | None) -> str:
    """A batch's row digest (the version's `sha256` for a source): the sum of its row hashes (none: "")."""
    return "" if hashes is None else f"{int(hashes.sum()) & (2**64 - 1):016x}"


def quarantine_count(wh: Warehouse, table: str) -> int:
    """How many readings of this dataset's source are in quarantine (the 数据源 page shows it)."""
    return Catalog(wh).quarantine_count(table)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return ""
