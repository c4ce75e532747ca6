"""Next month's report onto its existing dataset: which file column is which dataset column.

Why: a department's report arrives with its own layout — 清运作业 merged over 清运量 and 车次,
no units — while the dataset was made from a clean file with 清运量（吨）. Appending by exact
name fails, and "替换" silently breaks every chart on the dataset. So the plan offers the
datasets this file fits, maps columns by name, by name without parent headers and unit, by
the dataset's synonyms and the file's English codes, and at last by unit (the one numeric
column left with the dataset column's unit); it checks units, and types each mapped
column as the dataset's. The mapping becomes ordinary column overrides (rename, type, skip)
plus `append_to`: re-read with them, the file's columns are the dataset's, and saved in the
recipe they are applied to next month's file before shaping.

Pure: the importer hands in the datasets (citybi.schema.DatasetInfo) it read from the catalog.
"""
from __future__ import annotations

import re

from citybi.ingest.cells import split_footnote
from citybi.ingest.model import (
    AppendTarget,
    ColumnMatch,
    ColumnOverride,
    ColumnPlan,
    ImportOptions,
    ImportPlan,
    MatchHow,
)
from citybi.schema import DatasetInfo

_UNIT_TAIL = re.compile(r"[（(][^（）()]{1,12}[)）]$")
_SPACE = re.compile(r"\s+")
_NUMERIC = {"integer", "number"}
MAX_OFFERS = 3


def base_name(name: str) -> str:
    """清运作业/清运量 → 清运量; 清运量（吨） → 清运量; 人口* → 人口 (lower-cased, no spaces)."""
    last = name.split("/")[-1]
    last, _ = split_footnote(last)
    last = _UNIT_TAIL.sub("", last.strip())
    return _SPACE.sub("", last).lower()


def _sources(plan: ImportPlan) -> list[ColumnPlan]:
    return [c for c in plan.columns if c.index >= 0]


def match_dataset(plan: ImportPlan, ds: DatasetInfo, *, by_recipe: bool = False,
                  chosen: dict[str, int | None] | None = None) -> AppendTarget:
    """How this plan's columns map onto dataset `ds` (see the module docstring).

    `chosen`: the clerk's own picks, dataset column → file column index (None: no column).
    """
    sources = _sources(plan)
    by_index = {c.index: c for c in sources}
    used: set[int] = set()
    found: dict[str, tuple[ColumnPlan, MatchHow]] = {}
    problems: list[str] = []
    for target, pick in (chosen or {}).items():
        if pick is not None and pick in by_index and ds.column(target) is not None:
            found[target] = (by_index[pick], "chosen")
            used.add(pick)
        elif pick is None:
            found.pop(target, None)
    skip = {t for t, p in (chosen or {}).items() if p is None}

    def take(test: object, how: MatchHow) -> None:
        for t in ds.columns:
            if t.name in found or t.name in skip:
                continue
            hits = [c for c in sources if c.index not in used and test(t, c)]  # type: ignore[operator]
            if len(hits) == 1:  # two candidates: leave it to the clerk
                found[t.name] = (hits[0], how)
                used.add(hits[0].index)

    take(lambda t, c: c.name == t.name, "name")
    take(lambda t, c: base_name(c.name) == base_name(t.name), "base")
    take(lambda t, c: base_name(c.name) in {base_name(s) for s in t.synonyms}, "synonym")
    take(lambda t, c: bool({a.lower() for a in c.aliases} & {t.name.lower(), *(s.lower() for s in t.synonyms)}),
         "alias")
    # last: the one numeric column left with the same unit (重量（吨） for 清运量（吨）)
    take(lambda t, c: bool(t.unit) and c.unit == t.unit and c.type in _NUMERIC and t.type in _NUMERIC, "unit")
    matches: list[ColumnMatch] = []
    for t in ds.columns:
        hit = found.get(t.name)
        if hit is None:
            matches.append(ColumnMatch(target=t.name, target_type=t.type, target_unit=t.unit))  # type: ignore[arg-type]
            problems.append(f"数据集「{ds.name}」的列「{t.name}」在文件中找不到对应的列")
            continue
        c, how = hit
        if c.unit and t.unit and c.unit != t.unit:
            problems.append(f"文件的列「{c.name}」单位是「{c.unit}」，数据集的列「{t.name}」单位是「{t.unit}」，"
                            "数值不能直接追加（请先在原表中换算）")
        elif t.type in _NUMERIC and c.type not in _NUMERIC and c.type != "text":
            problems.append(f"文件的列「{c.name}」是{_zh(c.type)}，数据集的列「{t.name}」是{_zh(t.type)}")
        matches.append(ColumnMatch(target=t.name, target_type=t.type, target_unit=t.unit,  # type: ignore[arg-type]
                                   source=c.index, source_name=c.name, source_type=c.type, how=how))
    extra = [c.name for c in sources if c.index not in used]
    return AppendTarget(dataset=ds.name, by_recipe=by_recipe, matches=matches, extra=extra, problems=problems)


def _zh(t: str) -> str:
    from citybi.ingest.model import TYPE_LABELS

    return f"「{TYPE_LABELS.get(t, t)}」"


def offers(plan: ImportPlan, datasets: list[DatasetInfo], recipe_dataset: str | None = None) -> list[AppendTarget]:
    """The datasets this file can be appended to, best first (at most MAX_OFFERS).

    Offered: the dataset this report's recipe was saved for, and any dataset all of whose
    columns (at least 2) are found in the file, covering at least half of the file's columns.
    An offer may carry problems (a unit that differs): the clerk then sees why it cannot be
    appended as it is.
    """
    out: list[tuple[tuple[int, int, int], AppendTarget]] = []
    n_src = len(_sources(plan))
    for ds in datasets:
        by_recipe = recipe_dataset is not None and ds.name.lower() == recipe_dataset.lower()
        target = match_dataset(plan, ds, by_recipe=by_recipe)
        matched = sum(1 for m in target.matches if m.source is not None)
        # every dataset column found (区 and 日期 alone are in half the city's tables), and most of the file used
        enough = matched == len(ds.columns) >= 2 and matched >= 0.5 * n_src
        if by_recipe or enough:
            out.append(((0 if not target.problems else 1, 0 if by_recipe else 1, -matched), target))
    out.sort(key=lambda t: t[0])
    return [t for _, t in out[:MAX_OFFERS]]


def mapping_options(plan: ImportPlan, target: AppendTarget) -> ImportOptions:
    """The plan's options with the mapping as column overrides: renamed and typed as the
    dataset's columns, the file's other columns skipped, and `append_to` set."""
    by_index = {c.index: c for c in _sources(plan)}
    columns = dict(plan.options.columns)
    mapped: set[int] = set()
    for m in target.matches:
        if m.source is None or m.source not in by_index:
            continue
        src = by_index[m.source]
        mapped.add(m.source)
        current = columns.get(m.source, ColumnOverride())
        update: dict[str, object] = {"skip": False}
        if src.name != m.target:
            update["name"] = m.target
        if src.type != m.target_type:
            update["type"] = m.target_type
        if m.target_unit and not src.unit:
            update["unit"] = m.target_unit
        columns[m.source] = current.model_copy(update=update)
    for idx in by_index:
        if idx not in mapped:
            columns[idx] = columns.get(idx, ColumnOverride()).model_copy(update={"skip": True})
    return plan.options.model_copy(update={"columns": columns, "append_to": target.dataset})
