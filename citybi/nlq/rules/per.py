"""Per-unit measures: 人均X, 每万人X, 每平方公里X, X密度, 环卫工人人均X — a total divided by a head
count or an area, never the average row.

The divisor is the column the words name (环卫工人 → 环卫工人数), else the table's population
(人口) or area (面积) column, converted by its unit (万人 → ×10,000, 平方米 → ÷1,000,000). When
this table has no such column, another table that shares a key with the question's grouping
(区 in 环卫清运 and in 区县概况, matched by their values) supplies it: each side is totalled
per key first, then joined, so no row is counted twice, and the reading says so. No divisor
anywhere → an honest refusal, never a row average.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from citybi.schema import DatasetInfo

from ..context import ParseContext
from ..text import core_name
from ..vocab import Vocabulary
from . import register

PER = re.compile(r"(?P<cap>人均|每人)|每(?P<n>十|百|千|万|十万|百万)人|(?P<hh>户均|每户)"
                 r"|每(?P<area>平方公里|平方千米|平方米|公顷|亩)|(?P<dens>密度)")
PEOPLE_N = {"十": 10, "百": 100, "千": 1_000, "万": 10_000, "十万": 100_000, "百万": 1_000_000}
# how many people / km² one unit of a column holds
PEOPLE_UNIT = (("万人", 10_000), ("千人", 1_000), ("百人", 100), ("人", 1))
AREA_UNIT = (("平方公里", 1.0), ("平方千米", 1.0), ("KM2", 1.0), ("KM²", 1.0), ("公顷", 0.01), ("亩", 1 / 1500),
             ("平方米", 1e-6), ("㎡", 1e-6), ("M2", 1e-6))
AREA_PER = {"平方公里": 1.0, "平方千米": 1.0, "平方米": 1e-6, "公顷": 0.01, "亩": 1 / 1500}


@dataclass
class Divisor:
    table: DatasetInfo
    vocab: Vocabulary
    column: str


@register
class PerUnitRule:
    name = "per"
    order = 75  # after grouping (the join key is a grouping column), before the shape rule

    def apply(self, ctx: ParseContext) -> None:
        found = next(iter(ctx.find(PER.pattern)), None)
        if found is None:
            return
        spec = ctx.spec
        assert spec is not None
        m = PER.fullmatch(found.group(0))
        assert m is not None
        ctx.take(found.start(), found.end())
        ctx.cues.setdefault("per", found.start())
        word = found.group(0)
        kind = "area" if (m.group("area") or m.group("dens")) else "household" if m.group("hh") else "people"
        # 环卫工人人均: the words before 人均 name the divisor; before 密度 they name the measure
        named = self._named_divisor(ctx, found.start()) if m.group("cap") else None
        div = named or self._default_divisor(ctx, kind)
        if div is None:
            what = {"area": "面积", "household": "户数", "people": "人口或人数"}[kind]
            ctx.refuse(f"「{word}」要用总量除以{what}，不是逐行平均；但表「{ctx.dataset.name}」和其他能按同一分组"
                       f"对应的表里都没有{what}列。可以分别问总量和{what}，或改问「平均」。")
        assert div is not None
        info = div.table.column(div.column)
        unit = core_unit(div.column, info.unit if info else None)
        if kind == "area":
            per_km2 = AREA_PER.get(m.group("area") or "平方公里", 1.0)
            scale = next((f for u, f in AREA_UNIT if u in unit), 1.0) / per_km2
        elif named is None or kind == "people":
            people = next((f for u, f in PEOPLE_UNIT if u in unit), 1)
            per_n = PEOPLE_N.get(m.group("n") or "", 1)
            scale = people / per_n
        else:
            scale = 1.0
        if kind == "area":
            per_unit = m.group("area") or "平方公里"
        elif named is not None and kind == "people" and m.group("cap"):
            per_unit = core_unit(div.column, info.unit if info else None).lower() or "人"
            per_unit = "人" if per_unit.endswith("人") else per_unit
        else:
            per_unit = ("户" if kind == "household" else f"{m.group('n') or ''}人")
        spec.per = {"word": word, "column": div.column, "scale": scale, "per_unit": per_unit,
                    "table": None if div.table.name == ctx.dataset.name else div.table.name}
        ctx.per_divisor = div if spec.per["table"] else None
        # the divisor's own words are not the measure (环卫工人人均清运量: 环卫工人 is the divisor)
        ctx.mentions = [x for x in ctx.mentions if not (x.kind == "column" and x.column == div.column)]

    @staticmethod
    def _join_key(ctx: ParseContext, div: Divisor) -> list[str] | None:
        spec = ctx.spec
        assert spec is not None
        text_groups = [g for g in spec.group_by if g in ctx.vocab.values]
        if len(spec.group_by) > 1 or (spec.group_by and not text_groups) or spec.time_grain:
            return None
        if not spec.group_by:  # a total: the divisor's total (filtered to the same key values, if any)
            return []
        other = matching_column(ctx.vocab, spec.group_by[0], div.vocab)
        return [spec.group_by[0], other] if other else None

    @staticmethod
    def _named_divisor(ctx: ParseContext, pos: int) -> Divisor | None:
        """环卫工人人均: the words right before 人均 that name a numeric column (this table or another)."""
        before = ctx.q[max(0, pos - 8):pos]
        for i in range(len(before) - 1):
            piece = before[i:]
            for ds, vocab in [(ctx.dataset, ctx.vocab), *ctx.other_tables()]:
                for e in vocab.words.get(piece, []):
                    info = ds.column(e.column or "")
                    if e.kind == "column" and info is not None and info.is_numeric and e.strength > 1:
                        if ds.name == ctx.dataset.name or _shares_key(ctx, vocab):
                            ctx.take(pos - len(piece), pos)
                            return Divisor(ds, vocab, info.name)
        return None

    @staticmethod
    def _default_divisor(ctx: ParseContext, kind: str) -> Divisor | None:
        pattern = {"area": r"面积", "household": r"户数|户", "people": r"人口"}[kind]
        tables = [(ctx.dataset, ctx.vocab), *ctx.other_tables()]
        counting = not any(m.kind == "column" and (c := ctx.dataset.column(m.column or "")) is not None
                           and c.is_numeric and not re.search(pattern, core_name(c.name)) for m in ctx.mentions)
        if counting:  # 各区每平方公里有几个公厕: the district's area, not the toilets' own footprint
            tables = tables[1:] + tables[:1]
        for ds, vocab in tables:
            cols = [c.name for c in ds.columns if c.is_numeric and re.search(pattern, core_name(c.name))]
            if cols and (ds.name == ctx.dataset.name or _shares_key(ctx, vocab)):
                return Divisor(ds, vocab, cols[0])
        return None


@register
class PerUnitJoin:
    """After the shape rule has fixed the grouping: the key the two tables are joined on."""

    name = "per_join"
    order = 95

    def apply(self, ctx: ParseContext) -> None:
        div, spec = ctx.per_divisor, ctx.spec
        if spec is not None and spec.per and spec.measures:
            spec.per["unit"] = per_unit_text(ctx, spec.measures[0].column, spec.per.get("per_unit", ""))
        if div is None or spec is None or not spec.per:
            return
        word = spec.per["word"]
        key = PerUnitRule._join_key(ctx, div)
        if key is None:
            ctx.refuse(f"「{word}」要用表「{div.table.name}」的「{div.column}」相除，但问题的分组在两张表里对不上"
                       "（需要不分组，或按两表共有的一列分组，例如各区）。")
        spec.per["key"] = key
        # 南湖区人均清运量: the divisor is the same district's population, not the whole city's
        carried = []
        for f in spec.filters:
            other = matching_column(ctx.vocab, f.column, div.vocab) if f.op in ("=", "in") else None
            if other:
                carried.append([other, list(f.values)])
        spec.per["filters"] = carried
        how = f"两张表各自先按「{key[0]}」汇总，再按它对应相除。" if key else "两张表各自先汇总，再相除。"
        ctx.notes.append(f"「{spec.per['column']}」来自表「{div.table.name}」：{how}")


def per_unit_text(ctx: ParseContext, measure: str | None, per_unit: str) -> str:
    """吨/人, 条/万人, 万人/平方公里: the unit of a per-unit measure, said in the reading."""
    if not per_unit:
        return ""
    if measure is None:
        top = "条"
    else:
        info = ctx.dataset.column(measure)
        inside = re.findall(r"[（(]([^）)]*)[）)]", measure)
        top = (info.unit if info is not None and info.unit else "") or (inside[-1] if inside else "")
    return f"{top}/{per_unit}" if top else f"每{per_unit}"


def core_unit(name: str, unit: str | None) -> str:
    inside = re.findall(r"[（(]([^）)]*)[）)]", name)
    return ((unit or "") + "".join(inside)).upper()


def matching_column(mine: Vocabulary, column: str, theirs: Vocabulary) -> str | None:
    """The column of the other table holding the same things (区 ↔ 区县名称): most shared values."""
    values = {str(v) for v in mine.values.get(column, [])}
    if not values:
        return None
    best, score = None, 0.0
    for other, vals in theirs.values.items():
        shared = len(values & {str(v) for v in vals})
        ratio = shared / max(1, min(len(values), len(vals)))
        if shared and ratio > score:
            best, score = other, ratio
    return best if score >= 0.5 else None


def _shares_key(ctx: ParseContext, theirs: Vocabulary) -> bool:
    """Another table can supply a divisor when one of this question's group (or filter) columns
    has a counterpart there, or when the question has no grouping at all."""
    cols = list(ctx.group_positions) or [f.column for f in (ctx.spec.filters if ctx.spec else [])]
    if not cols:
        return True
    return any(matching_column(ctx.vocab, c, theirs) for c in cols if c in ctx.vocab.values)
