"""One vocabulary: the Chinese words for periods, time grains and aggregations, and one
translator of schema errors into Chinese.

Why one module: charts, KPI cards, boards, 问数 and the pages all show the same ideas
("上月", "按月", "合计"). Written in five places they drifted (the same sum was 求和 in 问数 and
合计 in charts; a period one page offered was unknown to another). Everything that names a
period, a grain or an aggregation imports it from here, and every pydantic ValidationError
a user can cause is explained by `explain`.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


# ---------------------------------------------------------------------------- time grains
@dataclass(frozen=True)
class Grain:
    """A calendar grain: its word in specs (日), its code in the question layer and in SQL
    date_trunc (day), the name its column gets in a result (日期) and how a reading says
    "grouped by it" (按天)."""

    zh: str
    code: str
    column_label: str
    word: str


GRAINS: tuple[Grain, ...] = (
    Grain("日", "day", "日期", "天"),
    Grain("周", "week", "周", "周"),
    Grain("月", "month", "月份", "月"),
    Grain("季", "quarter", "季度", "季度"),
    Grain("年", "year", "年份", "年"),
)
TIME_GRAINS: tuple[str, ...] = tuple(g.zh for g in GRAINS)
GRAIN_BY_ZH: dict[str, Grain] = {g.zh: g for g in GRAINS}
GRAIN_BY_CODE: dict[str, Grain] = {g.code: g for g in GRAINS}
# months per grain, for calendar arithmetic on grains of a month or longer
GRAIN_MONTHS: dict[str, int] = {"月": 1, "季": 3, "年": 12}


# ---------------------------------------------------------------------------- relative periods
# name → (grain, offset in periods from the one containing today)
RELATIVE_PERIOD_GRAINS: dict[str, tuple[str, int]] = {
    "今天": ("日", 0), "昨天": ("日", -1), "本周": ("周", 0), "上周": ("周", -1), "本月": ("月", 0),
    "上月": ("月", -1), "本季": ("季", 0), "上季": ("季", -1), "今年": ("年", 0), "去年": ("年", -1),
}
RELATIVE_PERIODS: tuple[str, ...] = tuple(RELATIVE_PERIOD_GRAINS)
RECENT_DAYS = re.compile(r"^最近(\d{1,4})天$")
# what date pickers offer first (any 最近N天 is also valid in a saved spec)
RECENT_PRESETS: tuple[str, ...] = ("最近7天", "最近30天", "最近90天")
RELATIVE_CHOICES: tuple[str, ...] = (*RECENT_PRESETS, *RELATIVE_PERIODS)
# the board's date filter: the presets a leader picks from (rarely needed ones left out)
BOARD_DATE_PRESETS: tuple[str, ...] = (*RECENT_PRESETS, "本周", "上周", "本月", "上月", "本季", "今年", "去年")


def is_relative_period(text: str) -> bool:
    """True for 今天 … 去年 and 最近N天 (N ≥ 1)."""
    m = RECENT_DAYS.match(text)
    return bool(m and int(m.group(1)) >= 1) or text in RELATIVE_PERIOD_GRAINS


def relative_period_grain(text: str) -> str | None:
    """The calendar grain of a relative period (本月 → 月); None for 最近N天 (a plain run of days)."""
    found = RELATIVE_PERIOD_GRAINS.get(text)
    return found[0] if found else None


def relative_periods_text() -> str:
    return "最近N天（如 最近7天）、" + "、".join(RELATIVE_PERIODS)


# ---------------------------------------------------------------------------- aggregations
# One word per aggregation, used by chart measure names, the builder, KPI cards and 问数's
# reading ("清运量合计"). The question layer's extra kinds (日均, 原值) are here too.
AGG_LABELS: dict[str, str] = {
    "sum": "合计", "avg": "平均", "count": "计数", "count_distinct": "去重计数",
    "max": "最大", "min": "最小", "ratio": "占比", "metric": "按指标公式",
}
NLQ_AGG_LABELS: dict[str, str] = {
    "sum": AGG_LABELS["sum"], "avg": AGG_LABELS["avg"], "max": AGG_LABELS["max"], "min": AGG_LABELS["min"],
    "count": AGG_LABELS["count"], "distinct": AGG_LABELS["count_distinct"],
    "per_day": "日均（总量÷有数据的天数）", "none": "原值", "days": "天数（按日期去重）",
}


# ---------------------------------------------------------------------------- schema errors
def short_value(value: Any, limit: int = 40) -> str:
    """A user's input quoted back in a message, cut short: an error must not echo a whole list."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _place(loc: tuple[Any, ...], fields: Mapping[str, str], items: Mapping[str, str], root: str,
           skip: frozenset[str]) -> str:
    parts: list[str] = []
    prev: Any = None
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"第{item + 1}{items.get(str(prev), '项')}"]
        elif str(item) in skip:
            pass  # a discriminator tag pydantic inserts into the location
        else:
            parts.append(fields.get(str(item), f"「{item}」"))
        prev = item
    return "的".join(parts) or root


def explain(
    err: ValidationError,
    *,
    fields: Mapping[str, str],
    items: Mapping[str, str] | None = None,
    root: str = "设置",
    prefix: tuple[Any, ...] = (),
    skip: frozenset[str] = frozenset(),
    literal_choices: Mapping[str, str] | None = None,
) -> list[str]:
    """Each problem of a ValidationError as one Chinese sentence saying where and how to fix it.

    fields: Chinese names of the model's keys (title → 标题); items: the noun for list items
    (tiles → 个图块); root: what the whole document is called (图表定义); prefix: where the
    validated part sits in the document; skip: location parts to leave out (discriminator
    tags); literal_choices: what to list per key when a value is not one of the allowed ones
    (agg → "sum（合计）、avg（平均）…"). A ValueError raised inside a validator is already a
    Chinese sentence (or carries a list of them in `.problems`) and is used as is.
    """
    items = items or {}
    out: list[str] = []
    for e in err.errors(include_url=False):
        loc = prefix + tuple(e.get("loc", ()))
        kind = e.get("type", "")
        ctx = e.get("ctx") or {}
        value = short_value(e.get("input"))
        where = _place(loc, fields, items, root, skip)
        key = str(loc[-1]) if loc else ""
        if kind == "extra_forbidden":
            parent = _place(loc[:-1], fields, items, root, skip)
            out.append(f"{parent}中有不认识的设置项「{loc[-1]}」，请删除或检查拼写")
        elif kind == "missing":
            out.append(f"缺少必填项：{where}")
        elif kind == "literal_error":
            allowed = (literal_choices or {}).get(key) or ctx.get("expected", "")
            out.append(f"{where}「{value}」无效，可选：{allowed}")
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            # the discriminator key (e.g. op) and the tags it may take, without pydantic's quotes
            disc = str(ctx.get("discriminator", "")).strip("'\"")
            tags = str(ctx.get("expected_tags", "")).replace("'", "").replace(", ", "、")
            what = fields.get(disc, disc)
            if kind == "union_tag_invalid":
                out.append(f"{where}的{what}「{short_value(ctx.get('tag'))}」无效，可选：{tags}")
            else:
                out.append(f"{where}缺少{what} {disc}（{tags}）")
        elif kind == "value_error":
            cause = ctx.get("error")
            problems = getattr(cause, "problems", None)
            if isinstance(problems, list):
                out.extend(str(p) for p in problems)
            else:
                out.append(str(cause or e.get("msg", "")))
        elif kind.startswith("int_"):
            out.append(f"{where}应为整数，「{value}」不是有效的整数")
        elif kind.startswith("float_"):
            out.append(f"{where}应为数字，「{value}」不是有效的数字")
        elif kind.startswith(("date_", "datetime_")):
            out.append(f"{where}应为日期（如 2024-01-31），「{value}」无法识别")
        elif kind in ("string_type", "string_too_short"):
            out.append(f"{where}应为非空文字")
        elif kind in ("list_type", "dict_type", "model_type", "model_attributes_type"):
            out.append(f"{where}应为{'列表' if kind == 'list_type' else '「键: 值」设置'}")
        elif kind == "too_long":
            actual = ctx.get("actual_length")
            now = f"（现在有 {actual:,} 个）" if isinstance(actual, int) else ""
            out.append(f"{where}最多 {ctx.get('max_length', 0):,} 个{now}，请减少")
        elif kind == "string_too_long":
            out.append(f"{where}最多 {ctx.get('max_length', 0):,} 个字，请缩短")
        elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than", "too_short"):
            out.append(f"{where}超出允许范围（现在是 {value}），请修改")
        elif kind in ("bool_type", "bool_parsing"):
            out.append(f"{where}应为 true 或 false")
        else:
            out.append(f"{where}：{e.get('msg', '')}")
    return list(dict.fromkeys(out))
