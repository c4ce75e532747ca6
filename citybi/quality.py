"""数据质量: one report per import (and per dataset), with a 0–100 score a leader can compare.

Why a report of its own: the import plan already knows what happened at the door — rows read,
rows dropped and why (小计/合计, 表尾, 空行), values standardised, cells that did not convert,
the dataset's rules a row breaks, repeated rows — but it says so in warnings that vanish after
导入. The report keeps those counts with the version they describe (`_citybi.quality_reports`,
written in the same transaction as the rows), so 数据集 shows a dataset's quality, the CLI prints
it, and the 数据质量 board compares departments over time.

The score (`score_of`) is 100 × the weighted mean of the components that could be measured:

| component            | weight | share of                                                        |
|----------------------|--------|-----------------------------------------------------------------|
| 有效性 validity       | 40     | rows that break none of the dataset's validation rules          |
| 完整性 completeness   | 20     | non-empty cells among all cells of the kept rows                |
| 类型一致 conformity   | 15     | non-empty cells that read as the column's type (not set to 空)   |
| 唯一性 uniqueness     | 15     | rows that repeat no earlier row, no key, no row already stored  |
| 标准化 standardisation | 10     | rows of dictionary-checked columns whose value is a standard one |

Why these weights: the rules are the owner's explicit statement of what a correct row is, so
breaking them weighs most; empty and unreadable cells make every total too low, repeated rows make
it too high; a spelling outside the dictionary splits a group but loses no number, so it weighs
least. Rows the reader dropped (合计, 表尾, 空行) are counted but not scored: they are the report's
layout, not bad data, and keeping them would be the error. A component that cannot be measured
(no rules set, no dictionary column, nothing to compare) is left out and the weights of the
others are scaled up, and the report lists it as 未检查 — a dataset without rules is not called
perfect on validity, it is said not to be checked.
"""
from __future__ import annotations

import argparse
import contextvars
import datetime as dt
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from citybi import context, rowrules, validation
from citybi.catalog import QUALITY_DATASET, Catalog
from citybi.dictionaries import ValueDictionary
from citybi.ingest.model import DROP_LABELS, ImportPlan
from citybi.warehouse import Warehouse

# component → (Chinese label, weight); see the module docstring for why
WEIGHTS: dict[str, tuple[str, int]] = {
    "validity": ("有效性", 40),
    "completeness": ("完整性", 20),
    "conformity": ("类型一致", 15),
    "uniqueness": ("唯一性", 15),
    "standard": ("标准化", 10),
}
SAMPLE_ROWS = 5
# a dataset with no stored report is measured on at most this many rows of its current version
TABLE_SAMPLE = 200_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Component(_Strict):
    key: str
    label: str
    weight: int
    value: float | None = None  # 0–1; None: not measured (left out of the score)
    note: str = ""  # Chinese: what was counted


class SampleRow(_Strict):
    excel_row: int | None = None  # 1-based sheet row; None when not known (a data source, 转为长表)
    sheet: str = ""
    value: str = ""  # the failing value
    row: str = ""  # the whole row as text, so the clerk recognises it


class RuleIssue(_Strict):
    rule: str
    column: str
    rows: int
    samples: list[SampleRow] = Field(default_factory=list)


class DroppedSample(_Strict):
    excel_row: int
    reason: str  # Chinese label
    text: str


class Standardised(_Strict):
    column: str
    original: str
    standard: str
    rows: int


class QualityReport(_Strict):
    """What one import (or a dataset's current rows) looked like at the door."""

    version: int = 1
    basis: Literal["import", "source", "table"] = "import"  # measured at the door, or on stored rows
    source: str = ""  # file name or source description
    mode: str = ""  # create / replace / append
    rows_read: int = 0  # data rows the reader saw (kept + dropped)
    rows_kept: int = 0
    rows_dropped: int = 0
    dropped_by_reason: dict[str, int] = Field(default_factory=dict)  # Chinese label → rows
    dropped_samples: list[DroppedSample] = Field(default_factory=list)
    values_standardised: int = 0  # rows whose value was replaced by a dictionary's standard value
    standardised: list[Standardised] = Field(default_factory=list)
    unknown_values: int = 0  # rows of dictionary-checked columns with a value the dictionary lacks
    cells: int = 0
    empty_cells: int = 0
    unconverted_cells: int = 0  # cells that did not read as the column's type (now empty)
    rules_checked: bool = False
    rows_breaking_rules: int = 0
    rule_failures: list[RuleIssue] = Field(default_factory=list)
    duplicates_checked: bool = False
    duplicate_rows: int = 0  # in the file + repeated keys + already in the dataset
    duplicates: dict[str, int | None] = Field(default_factory=dict)
    components: list[Component] = Field(default_factory=list)
    score: int = 0

    def summary_zh(self) -> str:
        """One line for the CLI, the plan and 数据集."""
        dropped = "，".join(f"{k} {v}" for k, v in self.dropped_by_reason.items())
        parts = [f"质量得分 {self.score}", f"读入 {self.rows_read} 行，保留 {self.rows_kept} 行"
                 + (f"，去除 {self.rows_dropped} 行（{dropped}）" if self.rows_dropped else "")]
        if self.values_standardised:
            parts.append(f"标准化 {self.values_standardised} 个值")
        parts.append(f"违反校验规则 {self.rows_breaking_rules} 行" if self.rules_checked else "未设校验规则")
        if self.duplicates_checked:
            parts.append(f"重复 {self.duplicate_rows} 行")
        return "；".join(parts)

    def component_rows(self) -> list[dict[str, Any]]:
        """The score's components as a table (keys 项目, 权重, 得分, 说明)."""
        return [{"项目": c.label, "权重": c.weight, "得分": "未检查" if c.value is None else f"{c.value * 100:.0f}",
                 "说明": c.note} for c in self.components]

    def failure_rows(self) -> list[dict[str, Any]]:
        """Every rule failure's sample rows as a table (keys 规则, 违反行数, Excel行号, 值, 整行)."""
        return [{"规则": f.rule, "违反行数": f.rows, "Excel行号": "" if s.excel_row is None else
                 (f"{s.sheet} 第 {s.excel_row} 行" if s.sheet else f"第 {s.excel_row} 行"),
                 "值": s.value, "整行": s.row}
                for f in self.rule_failures for s in f.samples or [SampleRow()]]


def score_of(components: Sequence[Component]) -> int:
    """100 × the weighted mean of the measured components (see the module docstring)."""
    measured = [c for c in components if c.value is not None]
    total = sum(c.weight for c in measured)
    if not total:
        return 100
    return round(100 * sum(c.weight * (c.value or 0.0) for c in measured) / total)


def _share(bad: int, of: int) -> float | None:
    return None if of <= 0 else max(0.0, 1.0 - min(bad, of) / of)


def _row_text(frame: pl.DataFrame, index: int) -> str:
    if index >= frame.height:
        return ""
    return "，".join("" if v is None else str(v) for v in frame.row(index))[:200]


def meanwhile(work: Callable[[], QualityReport]) -> Callable[[], QualityReport]:
    """Measure a report on another thread; the returned function waits for it (and raises its error).

    Why: an import measures its report from the same frame it writes, and both polars (the
    report) and DuckDB (the write) release the GIL — on a second core the report costs no
    wall time (1,000,000 source rows: 0.3 s of duplicate and rule checks hidden behind the write).
    `work` must not touch the warehouse: the caller reads rules and dictionaries first.
    """
    future: Future[QualityReport] = Future()
    ctx = contextvars.copy_context()  # the caller's context (who is asking) goes with the work

    def run() -> None:
        try:
            future.set_result(ctx.run(work))
        except BaseException as err:  # handed to whoever waits, as a direct call would raise it
            future.set_exception(err)

    threading.Thread(target=run, name="citybi-quality", daemon=True).start()
    return future.result


def repeated_rows(frame: pl.DataFrame, hashes: pl.Series | None = None) -> pl.Series:
    """True for every copy after the first of a row (rows equal in every column, nulls equal).

    Exact, and cheap in the common case: equal rows have equal 64-bit row hashes, so when every
    hash is distinct no row repeats (1,000,000 distinct rows: 0.05 s, against 0.3 s comparing whole
    rows). A few repeats are confirmed value by value among the rows whose hash repeats (a hash
    collision only adds a candidate); many repeats are found by comparing every row, as before.
    """
    none = pl.Series("repeated", [False] * frame.height, dtype=pl.Boolean)
    if frame.width == 0 or frame.height == 0:
        return none
    if hashes is None:  # the caller may have them already (frame.hash_rows(), for a digest)
        hashes = frame.hash_rows()
    distinct = hashes.n_unique()
    if distinct == frame.height:
        return none
    if frame.height - distinct > frame.height // 20:  # many repeats: one pass over every row is cheaper
        return frame.select(~pl.struct(pl.all()).is_first_distinct()).to_series().alias("repeated")
    index = hashes.is_duplicated().arg_true()
    later = frame[index].select(~pl.struct(pl.all()).is_first_distinct()).to_series()
    return none.scatter(index.filter(later), True)


def measure(
    frame: pl.DataFrame,
    *,
    plan: ImportPlan | None = None,
    failures: Sequence[validation.Failure] = (),
    rows_breaking_rules: int = 0,
    rules_checked: bool = False,
    duplicates: dict[str, int | None] | None = None,
    basis: Literal["import", "source", "table"] = "import",
    source: str = "",
    mode: str = "",
    dropped: dict[str, int] | None = None,
) -> QualityReport:
    """The report of `frame` (as it will be written) and what the plan says happened before it.

    `failures`/`rows_breaking_rules` come from validation.check_rows of the dataset's rules
    (`rules_checked` False: the dataset has none); `duplicates` maps in_file / in_file_keys /
    in_dataset to counts (None: not compared); `dropped`: rows left out without a plan (a data
    source's unparsable readings, Chinese reason → rows)."""
    dropped_by: dict[str, int] = {k: v for k, v in (dropped or {}).items() if v}
    for d in plan.dropped_rows if plan is not None else []:
        label = DROP_LABELS.get(d.reason, d.reason)
        dropped_by[label] = dropped_by.get(label, 0) + 1
    n_dropped = sum(dropped_by.values())
    kept = frame.height
    cells = frame.height * frame.width
    empty = int(sum(frame.null_count().row(0))) if frame.width else 0
    columns = {c.name: c for c in plan.columns} if plan is not None else {}
    unconverted = sum(c.failed_count for c in columns.values() if c.name in frame.columns)
    proposals = plan.standardize if plan is not None else []
    applied = [Standardised(column=p.column, original=m.original, standard=m.standard, rows=m.rows)
               for p in proposals for m in p.mappings if m.accepted]
    checked_rows = sum(frame.height for p in proposals if p.column in frame.columns)
    # a value outside the dictionary, or one with a proposal the clerk did not take, is not standard
    unknown = sum(u.rows for p in proposals for u in p.unknown)
    unknown += sum(m.rows for p in proposals for m in p.mappings if not m.accepted)
    dups = duplicates or {}
    dup_rows = sum(v or 0 for v in dups.values())

    def sample(i: int, column: str) -> SampleRow:
        where = plan.sheet_row(i) if plan is not None else None
        value = frame.get_column(column)[i] if column in frame.columns and i < frame.height else None
        return SampleRow(excel_row=where[1] if where else None, sheet=where[0] if where and plan and
                         plan.sheet != where[0] else "", value="空" if value is None else str(value),
                         row=_row_text(frame, i))

    issues = [RuleIssue(rule=f.rule, column=f.column, rows=f.rows,
                        samples=[sample(i, f.column) for i in f.at[:SAMPLE_ROWS]]) for f in failures]
    components = [
        Component(key="validity", label=WEIGHTS["validity"][0], weight=WEIGHTS["validity"][1],
                  value=_share(rows_breaking_rules, kept) if rules_checked else None,
                  note=f"{rows_breaking_rules} 行违反校验规则" if rules_checked else "数据集未设校验规则"),
        Component(key="completeness", label=WEIGHTS["completeness"][0], weight=WEIGHTS["completeness"][1],
                  value=_share(empty, cells), note=f"{empty} / {cells} 个单元格为空"),
        Component(key="conformity", label=WEIGHTS["conformity"][0], weight=WEIGHTS["conformity"][1],
                  value=_share(unconverted, cells - empty + unconverted) if plan is not None else None,
                  note=f"{unconverted} 个单元格无法识别为列的类型" if plan is not None else "无读取记录"),
        Component(key="uniqueness", label=WEIGHTS["uniqueness"][0], weight=WEIGHTS["uniqueness"][1],
                  value=_share(dup_rows, kept) if duplicates is not None else None,
                  note=f"{dup_rows} 行重复" if duplicates is not None else "未检查重复"),
        Component(key="standard", label=WEIGHTS["standard"][0], weight=WEIGHTS["standard"][1],
                  value=_share(unknown, checked_rows) if checked_rows else None,
                  note=f"{unknown} 行的值不在数据标准中" if checked_rows else "没有按数据标准检查的列"),
    ]
    return QualityReport(
        basis=basis, source=source or (plan.file_name if plan is not None else ""), mode=mode,
        rows_read=kept + n_dropped, rows_kept=kept, rows_dropped=n_dropped, dropped_by_reason=dropped_by,
        dropped_samples=[DroppedSample(excel_row=d.row, reason=DROP_LABELS.get(d.reason, d.reason), text=d.text)
                         for d in (plan.dropped_rows if plan is not None else [])[:SAMPLE_ROWS]],
        values_standardised=sum(s.rows for s in applied), standardised=applied, unknown_values=unknown,
        cells=cells, empty_cells=empty, unconverted_cells=unconverted,
        rules_checked=rules_checked, rows_breaking_rules=rows_breaking_rules, rule_failures=issues,
        duplicates_checked=duplicates is not None, duplicate_rows=dup_rows, duplicates=dict(dups),
        components=components, score=score_of(components),
    )


def check_rules(frame: pl.DataFrame, rules: validation.Rules, dicts: Sequence[ValueDictionary],
                today: dt.date | None = None) -> tuple[list[validation.Failure], int, bool]:
    """(failures, rows breaking a rule, whether there were rules) — `measure`'s rule inputs."""
    if rules.empty():
        return [], 0, False
    failures, bad = validation.check_rows(frame, rules, dicts, today)
    return failures, bad, True


def to_json(report: QualityReport) -> str:
    return report.model_dump_json()


# ---------------------------------------------------------------------------------------- stored reports

class DatasetQuality(_Strict):
    """A dataset's current quality: its current version's report, or one measured on its rows."""

    dataset: str
    version: int
    stored: bool  # True: the report written with the version; False: measured now (older version)
    created_at: dt.datetime | None = None
    report: QualityReport | None = None  # None: 无质量报告 (a live or system dataset)
    note: str = ""  # Chinese: why there is no report, or how it was measured


def dataset_quality(wh: Warehouse, name: str, today: dt.date | None = None) -> DatasetQuality:
    """The current version's report; for a version written before reports existed, one measured now
    on its rows (at most TABLE_SAMPLE) and the dataset's rules — nothing else can be known of it."""
    cat = Catalog(wh)
    info = cat.get(name)
    # the report's sample rows are rows of the dataset: only a caller who reads all of them sees them
    # (the rest see the counts and score; a caller who may not read the dataset sees nothing)
    ctx, gov = context.effective(), cat.governance(info.name)
    if not rowrules.may_read_dataset(ctx, gov):
        return DatasetQuality(dataset=info.name, version=info.version, stored=False,
                              note="您没有权限查看这个数据集，也看不到它的质量报告。")
    whole = ctx.is_system or ctx.scope.unrestricted or gov.public
    stored = cat.quality_report(info.name)
    if stored is not None:
        created, body = stored
        report = QualityReport.model_validate_json(body)
        return DatasetQuality(dataset=info.name, version=info.version, stored=True, created_at=created,
                              report=report if whole else without_samples(report),
                              note="" if whole else HIDDEN)
    if not whole:  # measuring reads every row, past the row rules
        return DatasetQuality(dataset=info.name, version=info.version, stored=False,
                              note=f"无质量报告（第 {info.version} 版导入时还没有质量报告）。")
    rules = cat.rules(info.name)
    key = (str(wh.path), info.name, str(info.version), str(info.updated_at), rules.model_dump_json(), str(today))
    if key in _MEASURED:  # the 数据集 page asks on every rerun; the rows change only with a new version
        return _MEASURED[key]
    frame = cat.current_frame(info.name, TABLE_SAMPLE)
    if frame is None:
        why = "系统数据集，无质量报告" if info.name == QUALITY_DATASET else "无质量报告：数据不在本仓库中（实时数据集）"
        return DatasetQuality(dataset=info.name, version=info.version, stored=False, note=why)
    failures, bad, checked = check_rules(frame, rules, cat.dictionaries(), today)
    unique = [c for c in rules.unique if c in frame.columns]
    repeated = int(repeated_rows(frame).sum())
    in_keys = frame.height - frame.unique(subset=unique).height if unique and frame.height else 0
    report = measure(frame, failures=failures, rows_breaking_rules=bad, rules_checked=checked,
                     duplicates={"in_file": repeated, "in_file_keys": in_keys}, basis="table",
                     source=info.source_file)
    note = (f"无质量报告（第 {info.version} 版导入时还没有质量报告），以下按当前数据"
            + (f"的前 {TABLE_SAMPLE} 行" if info.row_count > TABLE_SAMPLE else "") + "和校验规则计算；"
            "去除的行、标准化的值和 Excel 行号已无从得知。")
    out = DatasetQuality(dataset=info.name, version=info.version, stored=False, report=report, note=note)
    if len(_MEASURED) >= 64:
        _MEASURED.pop(next(iter(_MEASURED)))
    _MEASURED[key] = out
    return out


# reports measured on a dataset's rows, by warehouse, dataset, version, rules and day (dataset_quality)
_MEASURED: dict[tuple[str, ...], DatasetQuality] = {}


HIDDEN = "示例行已隐藏：您的数据权限只包含这个数据集的部分行（计数和得分按全部行）。"


def without_samples(report: QualityReport) -> QualityReport:
    """The report without any row's content (sample rows, dropped rows, standardised values)."""
    return report.model_copy(update={
        "rule_failures": [f.model_copy(update={"samples": []}) for f in report.rule_failures],
        "dropped_samples": [], "standardised": []})


def as_json(q: DatasetQuality) -> dict[str, Any]:
    """What `citybi datasets quality --json` prints."""
    return json.loads(q.model_dump_json())


def lines_zh(q: DatasetQuality) -> list[str]:
    """The report as text lines (`citybi datasets quality NAME`)."""
    head = f"数据集「{q.dataset}」第 {q.version} 版"
    if q.report is None:
        return [f"{head}：{q.note or '无质量报告'}"]
    r = q.report
    out = [f"{head}：{r.summary_zh()}"]
    if q.note:
        out.append(q.note)
    out += [f"  {c['项目']}（权重 {c['权重']}）：{c['得分']}　{c['说明']}" for c in r.component_rows()]
    for s in r.dropped_samples:
        out.append(f"  去除：第 {s.excel_row} 行（{s.reason}）{s.text}")
    for m in r.standardised:
        out.append(f"  标准化：{m.column}「{m.original}」→「{m.standard}」{m.rows} 行")
    for f in r.rule_failures:
        out.append(f"  违反规则：{f.rule}，{f.rows} 行")
        for s in f.samples:
            where = f"第 {s.excel_row} 行" if s.excel_row is not None else "行号未知"
            out.append(f"    {(s.sheet + ' ') if s.sheet else ''}{where}：{s.value}（{s.row}）")
    if r.duplicates_checked and r.duplicate_rows:
        d = r.duplicates
        out.append(f"  重复：文件内 {d.get('in_file') or 0} 行，主键重复 {d.get('in_file_keys') or 0} 行"
                   + (f"，已在数据集中 {d['in_dataset']} 行" if d.get("in_dataset") is not None else ""))
    return out


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `quality` under `citybi datasets` (two lines in cli.py, as govern does)."""
    qp = sub.add_parser("quality", help="数据集的质量报告（得分、去除的行、违反的规则、重复）")
    qp.add_argument("name", nargs="?", help="数据集名称")
    qp.add_argument("--board", action="store_true",
                    help=f"建立系统数据集「{QUALITY_DATASET}」（各数据集的质量记录），供数据质量看板使用")
    qp.add_argument("--db", dest="quality_db", help="数据仓库文件（默认 data/citybi.duckdb）")
    qp.add_argument("--json", dest="quality_json", action="store_true")
    qp.set_defaults(func=cmd_quality)


def cmd_quality(args: argparse.Namespace) -> int:
    from citybi.catalog import open_warehouse
    from citybi.config import load_settings
    from citybi.errors import UserFacingError

    if not args.name and not args.board:
        raise UserFacingError("请给出数据集名称。",
                              hint="例如 citybi datasets quality 环卫清运 --db data/citybi.duckdb；"
                              "建立数据质量看板的数据集用 --board")
    with open_warehouse(load_settings(args.quality_db or args.db)) as wh:
        if args.board:
            made = Catalog(wh).ensure_quality_dataset()
            print(f"已建立系统数据集「{QUALITY_DATASET}」。" if made else f"系统数据集「{QUALITY_DATASET}」已存在。")
        if not args.name:
            return 0
        q = dataset_quality(wh, args.name)
    if args.quality_json or args.json:
        print(json.dumps(as_json(q), ensure_ascii=False, default=str))
    else:
        print("\n".join(lines_zh(q)))
    return 0
