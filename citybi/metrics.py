"""The metrics layer: a named measure (工单数, 办结率, 人口密度) is defined once and every place —
问数, the chart builder, KPI cards — computes it the same way, with its unit and format.

A definition is structured data, never SQL text: a formula kind (count, count_distinct,
sum/avg/min/max, ratio of two metrics, per-X of a metric by a column of this or another
dataset) with column names and typed conditions. It compiles to sqlglot expressions only,
and is checked against the dataset's real columns with Chinese messages before it is saved.
Definitions live in the catalog (table _citybi.metrics) and travel as reviewable YAML
(loaded only through citybi.safe_yaml).

A per-X metric whose divisor lives in another dataset (每万人工单数 = 工单数 ÷ 区县概况.常住人口)
is not a single aggregate: the question layer joins the two sides, each aggregated to the
shared key first (citybi.nlq.plan). `aggregate_expr` refuses it with a message instead.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlglot import exp

from citybi.errors import UserFacingError
from citybi.safe_yaml import load_user_yaml
from citybi.schema import DatasetInfo

MAX_NAME = 64
Scalar = str | int | float | bool
CONDITION_OPS = {"=": "=", "!=": "≠", "in": "属于", "not_in": "不属于", ">": ">", ">=": "≥", "<": "<", "<=": "≤"}
AGG_WORDS = {"count": "记录数", "count_distinct": "去重计数", "sum": "合计", "avg": "平均", "min": "最小",
             "max": "最大"}


class MetricError(UserFacingError):
    """A metric definition that is malformed or does not fit its dataset."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Model):
    """A typed condition on one column (办结状态 = 已办结); several are joined with AND."""

    column: str = Field(min_length=1, max_length=MAX_NAME)
    op: Literal["=", "!=", "in", "not_in", ">", ">=", "<", "<="] = "="
    value: Scalar | list[Scalar]

    @model_validator(mode="after")
    def _shape(self) -> Condition:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"条件「{self.column} {CONDITION_OPS[self.op]}」需要一组取值（列表）")
        if self.op not in ("in", "not_in") and isinstance(self.value, list):
            raise ValueError(f"条件「{self.column} {CONDITION_OPS[self.op]}」只能有一个取值；多个取值请用 in")
        return self

    def text(self) -> str:
        v = "、".join(map(str, self.value)) if isinstance(self.value, list) else str(self.value)
        return f"{self.column} {CONDITION_OPS[self.op]} {v}"


class Count(_Model):
    kind: Literal["count"]
    where: list[Condition] = Field(default_factory=list, max_length=8)


class CountDistinct(_Model):
    kind: Literal["count_distinct"]
    column: str = Field(min_length=1, max_length=MAX_NAME)
    where: list[Condition] = Field(default_factory=list, max_length=8)


class Aggregate(_Model):
    kind: Literal["sum", "avg", "min", "max"]
    column: str = Field(min_length=1, max_length=MAX_NAME)
    where: list[Condition] = Field(default_factory=list, max_length=8)


class Ratio(_Model):
    """numerator ÷ denominator, both metrics of the same dataset (办结率 = 已办结工单数 ÷ 工单数)."""

    kind: Literal["ratio"]
    numerator: str = Field(min_length=1, max_length=MAX_NAME)
    denominator: str = Field(min_length=1, max_length=MAX_NAME)


class Per(_Model):
    """A metric ÷ the total of a column (人口密度 = 常住人口 ÷ 面积). With `dataset`, the column lives in
    another dataset joined on key (this dataset) = by_key (that one), each side totalled per key first."""

    kind: Literal["per"]
    numerator: str = Field(min_length=1, max_length=MAX_NAME)
    column: str = Field(min_length=1, max_length=MAX_NAME)
    dataset: str | None = Field(default=None, max_length=MAX_NAME)
    key: str | None = Field(default=None, max_length=MAX_NAME)
    by_key: str | None = Field(default=None, max_length=MAX_NAME)

    @model_validator(mode="after")
    def _keys(self) -> Per:
        if self.dataset and not (self.key and self.by_key):
            raise ValueError(f"除数来自另一个数据集「{self.dataset}」时，"
                             "需要写出两边对应的键列 key 和 by_key（例如 区）")
        return self


Formula = Annotated[Count | CountDistinct | Aggregate | Ratio | Per, Field(discriminator="kind")]


class Metric(_Model):
    """One named measure: its formula, unit, display format and the words users say for it."""

    name: str = Field(min_length=1, max_length=MAX_NAME)
    dataset: str = Field(min_length=1, max_length=MAX_NAME)
    formula: Formula
    multiplier: float = Field(default=1.0, gt=0)  # the result × this (每万人: ×10000 when the divisor is in 人)
    unit: str = Field(default="", max_length=32)
    format: Literal["number", "percent"] = "number"
    decimals: int = Field(default=2, ge=0, le=6)
    synonyms: list[str] = Field(default_factory=list, max_length=20)
    description: str = Field(default="", max_length=500)

    @field_validator("name", "dataset")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("名称不能为空")
        return v

    @field_validator("synonyms")
    @classmethod
    def _words(cls, v: list[str]) -> list[str]:
        return [w.strip() for w in v if w and w.strip()]

    @property
    def words(self) -> list[str]:
        """The name and its synonyms: what a question may say."""
        return [self.name, *self.synonyms]

    @property
    def d3_format(self) -> str:
        """The chart / KPI number format (.1% for a percent metric: values are 0..1 ratios)."""
        return f".{self.decimals}%" if self.format == "percent" else f",.{self.decimals}f"


class MetricFile(_Model):
    """The YAML document: `metrics: [...]`."""

    metrics: list[Metric] = Field(default_factory=list, max_length=500)


# ---------------------------------------------------------------------------- errors in Chinese
_FIELD_ZH = {"name": "名称", "dataset": "数据集", "formula": "公式", "kind": "公式类型", "column": "列",
             "numerator": "分子", "denominator": "分母", "key": "本表键列", "by_key": "对方键列", "unit": "单位",
             "format": "格式", "decimals": "小数位数", "multiplier": "倍数", "synonyms": "同义词",
             "description": "说明", "where": "条件", "op": "运算", "value": "取值", "metrics": "指标列表"}


_KINDS = {"count", "count_distinct", "sum", "avg", "min", "max", "ratio", "per"}


def translate(err: ValidationError) -> list[str]:
    """Pydantic's English errors as one Chinese line each (where + what)."""
    out = []
    for e in err.errors():
        # a discriminated union puts the formula's kind in the path (formula.per.column): not a field
        where = "·".join(_FIELD_ZH.get(str(p), str(p)) for p in e["loc"] if str(p) not in _KINDS)
        kind = e["type"]
        if kind == "extra_forbidden":
            what = "是不认识的字段（请检查拼写）"
        elif kind == "missing":
            what = "必须填写"
        elif kind == "union_tag_invalid" or kind == "union_tag_not_found":
            what = "公式类型只能是 count、count_distinct、sum、avg、min、max、ratio、per"
        elif kind == "literal_error":
            what = "取值不在允许的范围内：" + str(e.get("ctx", {}).get("expected", ""))
        elif kind == "value_error":
            what = str(e.get("ctx", {}).get("error", e["msg"]))
        elif kind in ("greater_than", "greater_than_equal", "less_than_equal"):
            what = "数值超出范围"
        elif kind in ("string_too_short", "string_too_long", "too_long"):
            what = "长度不对（不能为空，也不能过长）"
        else:
            what = "格式不正确"
        out.append(f"{where}：{what}" if where else what)
    return out


def parse_metric(data: Any) -> Metric:
    try:
        return Metric.model_validate(data)
    except ValidationError as err:
        raise MetricError("指标定义不正确：" + "；".join(translate(err)), detail=str(err)) from err


# ---------------------------------------------------------------------------- checking against data
def references(m: Metric) -> list[str]:
    f = m.formula
    if isinstance(f, Ratio):
        return [f.numerator, f.denominator]
    if isinstance(f, Per):
        return [f.numerator]
    return []


def check(m: Metric, datasets: Mapping[str, DatasetInfo], metrics: Mapping[str, Metric]) -> None:
    """Every column, dataset and referenced metric exists and fits, no cycle; else MetricError (all problems)."""
    problems: list[str] = []
    ds = datasets.get(m.dataset)
    if ds is None:
        raise MetricError(f"指标「{m.name}」的数据集「{m.dataset}」不存在。",
                          hint="可用的数据集：" + "、".join(datasets) if datasets else "请先导入数据")
    f = m.formula

    def need_column(info: DatasetInfo, name: str, numeric: bool = False) -> None:
        c = info.column(name)
        if c is None:
            near = [x.name for x in info.columns if set(name) & set(x.name)][:5]
            hint = f"（相近的列：{'、'.join(near)}）" if near else ""
            problems.append(f"数据集「{info.name}」没有列「{name}」{hint}")
        elif numeric and not c.is_numeric:
            problems.append(f"列「{name}」不是数值列，不能求{AGG_WORDS.get(getattr(f, 'kind', ''), '合计')}")

    if isinstance(f, (Count, CountDistinct, Aggregate)):
        for cond in f.where:
            need_column(ds, cond.column)
    if isinstance(f, CountDistinct):
        need_column(ds, f.column)
    if isinstance(f, Aggregate):
        need_column(ds, f.column, numeric=True)
    if isinstance(f, Per):
        other = datasets.get(f.dataset) if f.dataset else ds
        if other is None:
            problems.append(f"除数所在的数据集「{f.dataset}」不存在")
        else:
            need_column(other, f.column, numeric=True)
            if f.dataset and f.key and f.by_key:
                need_column(ds, f.key)
                need_column(other, f.by_key)
    for ref in references(m):
        target = metrics.get(ref)
        if target is None:
            problems.append(f"引用的指标「{ref}」不存在（请先定义它）")
        elif target.dataset != m.dataset:
            problems.append(f"引用的指标「{ref}」属于数据集「{target.dataset}」，必须和本指标同一个数据集「{m.dataset}」")
        elif isinstance(target.formula, Per) and target.formula.dataset:
            problems.append(f"引用的指标「{ref}」本身跨表，不能再作为分子或分母")
    if not problems:
        try:
            _walk(m, metrics, ())
        except MetricError as err:
            problems.append(err.message)
    if problems:
        raise MetricError(f"指标「{m.name}」不能保存：" + "；".join(problems) + "。")


def _walk(m: Metric, metrics: Mapping[str, Metric], seen: tuple[str, ...]) -> None:
    if m.name in seen:
        raise MetricError("指标之间循环引用：" + " → ".join([*seen, m.name]))
    for ref in references(m):
        target = metrics.get(ref)
        if target is not None:
            _walk(target, metrics, (*seen, m.name))


def resolve(name: str, metrics: Mapping[str, Metric]) -> Metric:
    m = metrics.get(name)
    if m is None:
        raise MetricError(f"指标「{name}」不存在。", hint="可用 citybi metrics list 查看已有的指标")
    return m


def closure(m: Metric, metrics: Mapping[str, Metric]) -> dict[str, Metric]:
    """The metric and every metric it refers to (what a saved question needs to be planned again)."""
    out = {m.name: m}
    for ref in references(m):
        if ref in metrics and ref not in out:
            out.update(closure(metrics[ref], metrics))
    return out


def is_cross(m: Metric) -> bool:
    """Its divisor lives in another dataset (a join, not a single aggregate)."""
    return isinstance(m.formula, Per) and bool(m.formula.dataset) and m.formula.dataset != m.dataset


# ---------------------------------------------------------------------------- compiling (sqlglot only)
def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def _lit(v: Scalar) -> exp.Expression:
    if isinstance(v, bool):
        return exp.Boolean(this=v)
    if isinstance(v, (int, float)):
        return exp.Literal.number(v)
    return exp.Literal.string(str(v))


def condition_expr(c: Condition) -> exp.Expression:
    ref = _col(c.column)
    if c.op in ("in", "not_in"):
        values = c.value if isinstance(c.value, list) else [c.value]
        inside = ref.isin(*[_lit(v) for v in values])
        return exp.Not(this=inside) if c.op == "not_in" else inside
    ops = {"=": exp.EQ, "!=": exp.NEQ, ">": exp.GT, ">=": exp.GTE, "<": exp.LT, "<=": exp.LTE}
    assert not isinstance(c.value, list)
    return ops[c.op](this=ref, expression=_lit(c.value))


def _and(conds: Iterable[exp.Expression | None]) -> exp.Expression | None:
    real = [c.copy() for c in conds if c is not None]
    return exp.and_(*real) if real else None


def _filtered(agg: exp.Expression, cond: exp.Expression | None) -> exp.Expression:
    return agg if cond is None else exp.Filter(this=agg, expression=exp.Where(this=cond))


def ratio_of(num: exp.Expression, den: exp.Expression, multiplier: float = 1.0) -> exp.Expression:
    """CAST(num AS DOUBLE) ÷ NULLIF(den, 0) × multiplier: no integer division, no division by zero."""
    value: exp.Expression = exp.Div(this=exp.Cast(this=num, to=exp.DataType.build("DOUBLE")),
                                    expression=exp.Nullif(this=den, expression=exp.Literal.number(0)))
    if multiplier != 1:
        value = exp.Mul(this=exp.Paren(this=value), expression=exp.Literal.number(multiplier))
    return value


def aggregate_expr(m: Metric, metrics: Mapping[str, Metric], within: exp.Expression | None = None
                   ) -> exp.Expression:
    """The metric as one aggregate over its own dataset's rows, optionally only rows matching `within`
    (a period, a filter): FILTER (WHERE …) on every aggregate inside, so one scan serves several periods."""
    f = m.formula
    if isinstance(f, (Count, CountDistinct, Aggregate)):
        cond = _and([within, *[condition_expr(c) for c in f.where]])
        if isinstance(f, Count):
            agg: exp.Expression = exp.Count(this=exp.Star())
        elif isinstance(f, CountDistinct):
            agg = exp.Count(this=exp.Distinct(expressions=[_col(f.column)]))
        else:
            agg = {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}[f.kind](this=_col(f.column))
        value = _filtered(agg, cond)
        return value if m.multiplier == 1 else exp.Mul(this=value, expression=exp.Literal.number(m.multiplier))
    if isinstance(f, Ratio):
        num = aggregate_expr(resolve(f.numerator, metrics), metrics, within)
        den = aggregate_expr(resolve(f.denominator, metrics), metrics, within)
        return ratio_of(num, den, m.multiplier)
    if is_cross(m):
        raise MetricError(f"指标「{m.name}」的除数来自另一个数据集「{f.dataset}」，需要两表关联，不能在这里直接计算。",
                          hint="请在「问数」里按两表共有的键列提问，例如「各区" + m.name + "」")
    num = aggregate_expr(resolve(f.numerator, metrics), metrics, within)
    return ratio_of(num, _filtered(exp.Sum(this=_col(f.column)), within.copy() if within is not None else None),
                    m.multiplier)


def formula_text(m: Metric) -> str:
    """The formula in words, shown in the reading and on the 数据集 page (已办结工单数 ÷ 工单数)."""
    f = m.formula
    if isinstance(f, Ratio):
        text = f"{f.numerator} ÷ {f.denominator}"
    elif isinstance(f, Per):
        where = f"{f.dataset}." if f.dataset and f.dataset != m.dataset else ""
        text = f"{f.numerator} ÷ {where}{f.column}合计" + (f"（按「{f.key}」对应）" if f.dataset else "")
    else:
        text = "记录数" if isinstance(f, Count) else f"{f.column}{AGG_WORDS[f.kind]}"
        if f.where:
            text += "（" + "，".join(c.text() for c in f.where) + "）"
    if m.multiplier != 1:
        text = f"({text}) × {m.multiplier:g}"
    return text


def unit_text(m: Metric) -> str:
    return "%" if m.format == "percent" and not m.unit else m.unit


# ---------------------------------------------------------------------------- YAML
def dump_yaml(metrics: Iterable[Metric]) -> str:
    """Reviewable text: one entry per metric, defaults left out, Chinese kept readable."""
    doc = {"metrics": [m.model_dump(mode="json", exclude_defaults=True) for m in metrics]}
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def load_yaml(text: str | bytes) -> list[Metric]:
    data = load_user_yaml(text, what="指标文件")
    if isinstance(data, list):
        data = {"metrics": data}
    if not isinstance(data, dict):
        raise MetricError("指标文件的格式不对：应是 metrics: 下面的一组指标。")
    try:
        parsed = MetricFile.model_validate(data)
    except ValidationError as err:
        raise MetricError("指标文件不正确：" + "；".join(translate(err)[:8]), detail=str(err)) from err
    names = [m.name for m in parsed.metrics]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise MetricError(f"指标文件里有重名的指标：{'、'.join(dup)}。")
    return list(parsed.metrics)



# ---------------------------------------------------------------------------- form / command-line input
_COND = re.compile(r"^\s*(?P<col>.+?)\s*(?P<op>>=|<=|!=|≠|≥|≤|=|>|<|\s(?:in|not_in|属于|不属于)\s)\s*(?P<val>.+?)\s*$")
_OP_WORDS = {"≠": "!=", "≥": ">=", "≤": "<=", "属于": "in", "不属于": "not_in"}


def parse_condition(text: str, info: DatasetInfo | None = None) -> Condition:
    """「办结状态=已办结」, 「空气质量等级 in 优、良」, 「处理时长（小时）>24」 → a Condition; values of a
    numeric column become numbers."""
    m = _COND.match(text or "")
    if m is None:
        raise MetricError(f"条件「{text}」看不懂。", hint="写成 列=取值、列>数值 或 列 in 取值1、取值2")
    column, op = m["col"].strip(), m["op"].strip()
    op = _OP_WORDS.get(op, op)
    c = info.column(column) if info is not None else None
    if info is not None and c is None:
        raise MetricError(f"条件「{text}」里的列「{column}」不在数据集「{info.name}」中。")

    def typed(v: str) -> Scalar:
        v = v.strip()
        if c is not None and c.is_numeric:
            try:
                return int(v) if re.fullmatch(r"-?\d+", v) else float(v)
            except ValueError as err:
                raise MetricError(f"条件「{text}」：列「{column}」是数值列，「{v}」不是数字。") from err
        return v

    raw = m["val"]
    value: Scalar | list[Scalar] = [typed(v) for v in re.split(r"[、,，]", raw) if v.strip()] \
        if op in ("in", "not_in") else typed(raw)
    return parse_metric_part(Condition, {"column": column, "op": op, "value": value})


def parse_metric_part(model: type[_Model], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise MetricError("；".join(translate(err)), detail=str(err)) from err


def from_fields(*, name: str, dataset: str, kind: str, column: str = "", where: Iterable[str] = (),
                numerator: str = "", denominator: str = "", by_dataset: str = "", key: str = "", by_key: str = "",
                multiplier: float = 1.0, unit: str = "", percent: bool = False, decimals: int = 2,
                synonyms: Iterable[str] = (), description: str = "", info: DatasetInfo | None = None) -> Metric:
    """A metric from the flat fields a form or the command line collects (empty fields left out)."""
    formula: dict[str, Any] = {"kind": kind}
    if kind in ("count", "count_distinct", "sum", "avg", "min", "max"):
        if kind != "count":
            formula["column"] = column
        formula["where"] = [parse_condition(w, info).model_dump() for w in where if w.strip()]
    elif kind == "ratio":
        formula.update(numerator=numerator, denominator=denominator)
    elif kind == "per":
        formula.update(numerator=numerator, column=column)
        if by_dataset and by_dataset != dataset:
            formula.update(dataset=by_dataset, key=key or None, by_key=by_key or key or None)
    return parse_metric({"name": name, "dataset": dataset, "formula": formula, "multiplier": multiplier,
                         "unit": unit, "format": "percent" if percent else "number", "decimals": decimals,
                         "synonyms": [s for s in synonyms if s.strip()], "description": description})


KIND_LABELS = {"count": "计数（记录数，可加条件）", "count_distinct": "去重计数（某列不同值的个数）",
               "sum": "合计", "avg": "平均", "min": "最小", "max": "最大",
               "ratio": "比率（分子指标 ÷ 分母指标）", "per": "每X（分子指标 ÷ 某列合计，可跨表）"}


def table_rows(metrics: Iterable[Metric]) -> list[dict[str, str]]:
    """The 数据集 page's list of metrics: one row each, in words."""
    return [{"指标": m.name, "公式": formula_text(m), "单位": unit_text(m),
             "显示": "百分比" if m.format == "percent" else f"数值（{m.decimals} 位小数）",
             "同义词": "、".join(m.synonyms), "说明": m.description} for m in metrics]


def to_fields(m: Metric) -> dict[str, Any]:
    """The flat fields of a metric (what `from_fields` takes back): the edit form's starting values."""
    f = m.formula
    where = getattr(f, "where", [])
    return {"name": m.name, "kind": f.kind, "column": getattr(f, "column", "") or "",
            "where": [c.text().replace(" 属于 ", " in ").replace(" 不属于 ", " not_in ").replace(" ≠ ", "!=")
                      .replace(" ≥ ", ">=").replace(" ≤ ", "<=").replace(" = ", "=").replace(" > ", ">")
                      .replace(" < ", "<") for c in where],
            "numerator": getattr(f, "numerator", "") or "", "denominator": getattr(f, "denominator", "") or "",
            "by_dataset": getattr(f, "dataset", "") or "", "key": getattr(f, "key", "") or "",
            "by_key": getattr(f, "by_key", "") or "", "multiplier": m.multiplier, "unit": m.unit,
            "percent": m.format == "percent", "decimals": m.decimals, "synonyms": list(m.synonyms),
            "description": m.description}
