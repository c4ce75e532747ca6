"""Validation rules per dataset: what every import into it must satisfy, checked before writing.

Why rules live with the dataset: 空气质量 always needs 0 ≤ AQI ≤ 500 and a 日期 that is not in
the future, whichever file next month's rows come from. The rules are data (strict pydantic,
stored by the catalog, `Catalog.set_rules`), checked by pandera's polars backend rather than a
home-made checker, and every failure is reported with its rule in Chinese, the number of rows
and sample values with their row positions — never silently fixed or dropped.

pandera (and the pandas it loads) is imported only when a dataset has rules.
"""
from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from citybi.dictionaries import ValueDictionary
from citybi.errors import UserFacingError

# pandera loads its pyspark backend whenever pyspark is installed (the [spark] extra), and pyspark then
# warns about pandas 3 on stderr — of no concern here (no Spark frame is ever validated), and a clerk
# running `citybi ingest` should not read it
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Range(_Strict):
    min: float | None = None
    max: float | None = None


class Allowed(_Strict):
    """Allowed values of a column: a dictionary's standard values (of one level), or a list."""

    dictionary: str = ""
    level: str | None = None
    values: list[str] = Field(default_factory=list)


class Rules(_Strict):
    required: list[str] = Field(default_factory=list)  # columns the file must have
    not_null: list[str] = Field(default_factory=list)
    ranges: dict[str, Range] = Field(default_factory=dict)
    allowed: dict[str, Allowed] = Field(default_factory=dict)
    unique: list[str] = Field(default_factory=list)  # a key: no two rows share these values
    not_future: list[str] = Field(default_factory=list)  # date columns

    def empty(self) -> bool:
        return self == Rules()


RULE_COLUMNS = ("列", "必需", "不能为空", "最小值", "最大值", "取值字典", "不能晚于今天")


def rules_table(rules: Rules, columns: Sequence[str]) -> list[dict[str, Any]]:
    """The rules as the table the 数据集 page edits: one row per column (取值字典 written 字典/层级)."""
    rows = []
    for c in [*columns, *[x for x in rules.required if x not in columns]]:
        r, a = rules.ranges.get(c, Range()), rules.allowed.get(c)
        rows.append({"列": c, "必需": c in rules.required, "不能为空": c in rules.not_null, "最小值": r.min,
                     "最大值": r.max, "取值字典": (a.dictionary + (f"/{a.level}" if a.level else "")) if a else "",
                     "不能晚于今天": c in rules.not_future})
    return rows


def rules_from_table(rows: Sequence[dict[str, Any]], unique: Sequence[str],
                     dictionaries: Sequence[ValueDictionary]) -> Rules:
    """Rules from the edited table; a 取值字典 that names no dictionary (or level) is refused in Chinese."""
    ranges: dict[str, Range] = {}
    allowed: dict[str, Allowed] = {}
    for row in rows:
        c = str(row["列"])
        low, high = row.get("最小值"), row.get("最大值")
        if low is not None or high is not None:
            if low is not None and high is not None and float(low) > float(high):
                raise UserFacingError(f"「{c}」的最小值 {low:g} 大于最大值 {high:g}。", hint="请交换或改正这两个值")
            ranges[c] = Range(min=None if low is None else float(low), max=None if high is None else float(high))
        spec = str(row.get("取值字典") or "").strip()
        if spec:
            name, _, level = spec.partition("/")
            d = next((x for x in dictionaries if x.name == name.strip()), None)
            if d is None or (level and level.strip() not in d.levels()):
                raise UserFacingError(f"「{c}」的取值字典「{spec}」不存在。",
                                      hint="写成 字典名 或 字典名/层级，例如 行政区划/区；字典在「数据标准」页管理")
            allowed[c] = Allowed(dictionary=d.name, level=level.strip() or None)
    pick = [str(r["列"]) for r in rows]
    return Rules(required=[c for c, r in zip(pick, rows, strict=True) if r.get("必需")],
                 not_null=[c for c, r in zip(pick, rows, strict=True) if r.get("不能为空")],
                 ranges=ranges, allowed=allowed, unique=list(unique),
                 not_future=[c for c, r in zip(pick, rows, strict=True) if r.get("不能晚于今天")])


class Failure(_Strict):
    rule: str  # Chinese: "AQI 应在 0 到 500 之间"
    column: str
    rows: int
    samples: list[str] = Field(default_factory=list)  # "第 3 条：600" (the 3rd data row)
    # the 0-based frame rows of `samples`, in order: the quality report turns them into Excel rows
    at: list[int] = Field(default_factory=list)


SAMPLES = 5


def _allowed_values(a: Allowed, dictionaries: Sequence[ValueDictionary]) -> list[str]:
    if not a.dictionary:
        return a.values
    d = next((x for x in dictionaries if x.name == a.dictionary), None)
    if d is None:
        raise UserFacingError(f"校验规则引用的数据标准字典「{a.dictionary}」不存在。",
                              hint="请在「数据标准」页导入该字典，或修改校验规则")
    return d.values(a.level) + a.values


def _range_text(r: Range) -> str:
    if r.min is not None and r.max is not None:
        return f"应在 {r.min:g} 到 {r.max:g} 之间"
    return f"应不小于 {r.min:g}" if r.min is not None else f"应不大于 {r.max:g}"


def check(frame: pl.DataFrame, rules: Rules, dictionaries: Sequence[ValueDictionary] = (),
          today: dt.date | None = None) -> list[Failure]:
    """Every rule the frame breaks, one Failure per rule and column (empty: all rules hold)."""
    return check_rows(frame, rules, dictionaries, today)[0]


def check_rows(frame: pl.DataFrame, rules: Rules, dictionaries: Sequence[ValueDictionary] = (),
               today: dt.date | None = None) -> tuple[list[Failure], int]:
    """`check`, and how many rows break at least one rule (a row breaking two rules counts once:
    the quality score's validity share)."""
    if rules.empty():
        return [], 0
    import pandera.polars as pa

    failures = [Failure(rule="缺少必需的列", column=c, rows=frame.height) for c in rules.required
                if c not in frame.columns]
    bad = frame.height if failures else 0  # a missing column fails every row
    present = set(frame.columns)
    labels: dict[tuple[str, str], str] = {}  # (column, pandera check name) → Chinese rule
    columns: dict[str, Any] = {}

    def add(column: str, check: Any | None, label: str, key: str) -> None:
        spec = columns.setdefault(column, {"checks": [], "nullable": True})
        if check is None:
            spec["nullable"] = False
        else:
            spec["checks"].append(check)
        labels[(column, key)] = label

    for c in rules.not_null:
        if c in present:
            add(c, None, "不能为空", "not_nullable")
    for c, r in rules.ranges.items():
        if c in present:
            add(c, _expr_check(f"range_{c}", lambda col, r=r: _in_range(col, r)), f"{c} {_range_text(r)}",
                f"range_{c}")
    for c, a in rules.allowed.items():
        if c in present:
            values = _allowed_values(a, dictionaries)
            where = f"数据标准「{a.dictionary}」" if a.dictionary else "允许的取值"
            add(c, _expr_check(f"allowed_{c}", lambda col, v=values: col.cast(pl.String).is_in(v)),
                f"{c} 的取值应在{where}中", f"allowed_{c}")
    limit = today or dt.date.today()
    for c in rules.not_future:
        if c in present and frame.schema[c] in (pl.Date, pl.Datetime):
            add(c, _expr_check(f"future_{c}", lambda col, t=limit: col.cast(pl.Date) <= t),
                f"{c} 不能晚于今天（{limit.isoformat()}）", f"future_{c}")
    key = [c for c in rules.unique if c in present]
    schema = pa.DataFrameSchema(
        {c: pa.Column(None, checks=s["checks"], nullable=s["nullable"], required=True) for c, s in columns.items()},
        unique=key or None,
    )
    indexed = frame.select(sorted(set(columns) | set(key)))
    try:
        schema.validate(indexed, lazy=True)
    except pa.errors.SchemaErrors as err:
        failures += _failures(err.failure_cases, labels, key)
        if not bad:
            bad = err.failure_cases.get_column("index").drop_nulls().n_unique()
    return failures, bad


def _expr_check(name: str, test: Any) -> Any:
    """A pandera check from a polars expression on the column; an empty cell passes (not_null is its own rule)."""
    import pandera.polars as pa

    def run(data: Any) -> Any:
        col = pl.col(data.key)
        return data.lazyframe.select(test(col).fill_null(True) | col.is_null())

    return pa.Check(run, name=name)


def _in_range(col: pl.Expr, r: Range) -> pl.Expr:
    ok = pl.lit(True)
    if r.min is not None:
        ok = ok & (col >= r.min)
    if r.max is not None:
        ok = ok & (col <= r.max)
    return ok


def _failures(cases: pl.DataFrame, labels: dict[tuple[str, str], str], key: list[str]) -> list[Failure]:
    out: list[Failure] = []
    cases = cases.with_columns(pl.col("column").cast(pl.String), pl.col("check").cast(pl.String))
    for (column, check), group in cases.group_by(["column", "check"], maintain_order=True):
        column, check = str(column or ""), str(check or "")
        if check.startswith(("multiple_fields_uniqueness", "unique")) or (column in ("", "None") and key):
            label, column = f"{'、'.join(key)} 不能重复（主键）", "、".join(key)
        else:
            label = labels.get((column, check)) or labels.get((column, "not_nullable") if "null" in check else
                                                            (column, check), f"{column}：{check}")
        picked = [(int(i), v) for i, v in group.select("index", "failure_case").head(SAMPLES).iter_rows()
                  if i is not None]
        samples = [f"第 {i + 1} 条：{v if v is not None else '空'}" for i, v in picked]
        out.append(Failure(rule=label, column=column, rows=group.height, samples=samples, at=[i for i, _ in picked]))
    return out
