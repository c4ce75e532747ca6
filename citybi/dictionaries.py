"""Value dictionaries: the standard names a city agrees on, and the matcher that maps spellings to them.

Why: departments write one district as 南湖, 南湖区, 嘉兴市南湖区 or ＮＡＮＨＵ, one street with and
without 街道. Until the values agree, a board across departments adds apples to oranges and a
question filtered on 南湖区 misses a third of the rows. A dictionary (行政区划 区 → 街道 → 社区 with
codes and aliases, 垃圾类型, 诉求类型 …) names the standard values; `propose` finds, for a text
column whose values mostly belong to one, which spellings map to which standard value, with the
rows each affects and a confidence.

Why propose and never change: "每一条数据准确可溯" — the importer shows the proposals, the clerk
accepts, fixes or keeps each one (or `--standardize auto` takes the high-confidence ones, what a
clerk accepts with one click), and only accepted mappings are applied (`apply`). The plan and the
version's provenance keep every original value with its row count.

Pure data and polars: no warehouse, no Streamlit. The catalog stores dictionaries
(Catalog.save_dictionary / dictionaries); traditional characters go through OpenCC.
"""
from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from citybi.errors import UserFacingError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Entry(_Strict):
    """One standard value: 滨江街道 (level 街道, parent 临江区, code 331002001, aliases 滨江)."""

    standard: str = Field(min_length=1, max_length=200)
    code: str = ""
    level: str = ""  # 区 / 街道 / 社区 in a hierarchy; "" in a flat list (垃圾类型)
    parent: str = ""  # the standard name of the entry one level up
    aliases: list[str] = Field(default_factory=list)


class ValueDictionary(_Strict):
    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    # text a value may start with that is no part of the name (the city: 清源市临江区 is 临江区)
    prefixes: list[str] = Field(default_factory=list)
    entries: list[Entry]

    def levels(self) -> list[str]:
        """The levels in the order they first appear (区 before 街道 before 社区)."""
        return list(dict.fromkeys(e.level for e in self.entries))

    def values(self, level: str | None = None) -> list[str]:
        return [e.standard for e in self.entries if level is None or e.level == level]


Reason = Literal["alias", "variant", "affix", "similar", "clerk"]
REASON_LABELS: dict[str, str] = {
    "alias": "字典中的别名",
    "variant": "全角/空格/繁体/大小写不同",
    "affix": "少了或多了后缀（区/街道/社区）或前缀（市名、上级名称）",
    "similar": "字形相近，请核对",
    "clerk": "人工指定",
}
CONFIDENCE: dict[str, float] = {"alias": 1.0, "variant": 0.95, "affix": 0.85, "similar": 0.6, "clerk": 1.0}
# what `--standardize auto` applies: mappings a clerk would accept with one click
HIGH_CONFIDENCE = 0.8
# a column is offered for standardisation when this share of its rows belongs to the dictionary
# (already standard, an alias, a variant or an affix match)
MIN_SHARE = 0.5
# free text (诉求内容) has thousands of distinct values: not a coded column, not worth matching
MAX_DISTINCT = 5000
# close spellings (difflib) are looked for among the most frequent values only
MAX_SIMILAR = 300


class ValueMapping(_Strict):
    original: str
    standard: str
    rows: int
    confidence: float
    reason: Reason
    accepted: bool = False


class UnknownValue(_Strict):
    value: str
    rows: int
    candidates: list[str] = Field(default_factory=list)  # standard values it may be (ambiguous or similar)


class ColumnProposal(_Strict):
    """What standardising one column against one dictionary would change."""

    column: str
    dictionary: str  # "" when only the clerk's own mappings apply (no dictionary fits the column)
    level: str = ""
    rows: int  # non-empty rows
    standard_rows: int  # rows already holding a standard value
    mappings: list[ValueMapping] = Field(default_factory=list)
    unknown: list[UnknownValue] = Field(default_factory=list)

    def accepted(self) -> dict[str, str]:
        return {m.original: m.standard for m in self.mappings if m.accepted}


# ---------------------------------------------------------------------- normalising
_SPACE = re.compile(r"\s+")
# department and office words after a place name: 南湖区城管局 is about 南湖区
_ORG_SUFFIXES = ("居民委员会", "人民政府", "办事处", "居委会", "村委会", "管委会", "城管局", "政府")
# level words, longest first so 青禾新区 loses 新区 (and 青禾区 / 青禾 / 青禾新区 meet at 青禾)
_LEVEL_SUFFIXES = ("街道", "社区", "新区", "区", "县", "镇", "乡", "村")


@functools.lru_cache(maxsize=1)
def _t2s() -> Any:
    import opencc  # loaded on first use: the sandboxed reader never needs it

    return opencc.OpenCC("t2s")


def fold(text: str) -> str:
    """The spelling-free form: NFKC (full width → half width), no spaces, simplified, case-folded."""
    text = _SPACE.sub("", unicodedata.normalize("NFKC", text))
    if any(ord(ch) > 0x2E80 for ch in text):
        text = _t2s().convert(text)
    return text.casefold()


def _stem(folded: str, prefixes: Sequence[str], suffixes: bool = True) -> str:
    """`folded` without known prefixes, an office word and a level suffix (never down to nothing)."""
    text = folded
    stripped = True
    while stripped:  # 清源市临江区滨江街道: the city, then the district
        stripped = False
        for p in prefixes:
            rest = text[len(p):]
            if p and text.startswith(p) and rest and rest not in _LEVEL_SUFFIXES:
                text, stripped = rest, True
                break
    for words in (_ORG_SUFFIXES, _LEVEL_SUFFIXES) if suffixes else ():
        for s in words:
            if text.endswith(s) and len(text) > len(s):
                text = text[: -len(s)]
                break
    return text


class _LevelIndex:
    """Lookups of one dictionary level: exact aliases, folded spellings and stems → standard values."""

    def __init__(self, d: ValueDictionary, level: str) -> None:
        self.dictionary, self.level = d.name, level
        entries = [e for e in d.entries if e.level == level]
        self.standards = {e.standard for e in entries}
        self.alias: dict[str, set[str]] = {}
        self.folded: dict[str, set[str]] = {}
        self.stems: dict[str, set[str]] = {}
        # a street may be written after its district (临江区滨江街道), anything after the city
        city = [fold(p) for p in d.prefixes if p.strip()]
        parent_of = {e.standard: e.parent for e in d.entries}
        above: set[str] = set()
        for e in entries:
            up = e.parent
            while up and up not in above:
                above.add(up)
                up = parent_of.get(up, "")
        names = {fold(p) for p in above}
        names |= {_stem(n, city) for n in names}
        self.prefixes = sorted(set(city) | names, key=len, reverse=True)
        for e in entries:
            for name in [e.standard, *e.aliases]:
                if name != e.standard:
                    self.alias.setdefault(name, set()).add(e.standard)
                f = fold(name)
                self.folded.setdefault(f, set()).add(e.standard)
                self.stems.setdefault(_stem(f, self.prefixes), set()).add(e.standard)

    def match(self, value: str, similar: bool = True) -> tuple[str | None, Reason | None, list[str]]:
        """(standard, reason, candidates) for one value; (value, None, []) when it is standard already.

        `similar`: also look for a close spelling (difflib, the slow part) when nothing else matched."""
        if value in self.standards:
            return value, None, []
        hit = self.alias.get(value)
        if hit and len(hit) == 1:
            return next(iter(hit)), "alias", []
        f = fold(value)
        hit = self.folded.get(f)
        if hit and len(hit) == 1:
            return next(iter(hit)), "variant", []
        if hit:
            return None, None, sorted(hit)
        stem = _stem(f, self.prefixes)
        # 渔村 is the stem of 渔村街道 already: its own 村 is part of the name
        hit = self.stems.get(_stem(f, self.prefixes, suffixes=False)) or self.stems.get(stem)
        if hit and len(hit) == 1:
            return next(iter(hit)), "affix", []
        if hit:
            return None, None, sorted(hit)
        if similar and len(stem) >= 2:
            close = difflib.get_close_matches(stem, list(self.stems), n=2, cutoff=0.75)
            found = sorted({s for c in close for s in self.stems[c]})
            if len(found) == 1:
                return found[0], "similar", []
            return None, None, found
        return None, None, []


def _proposal(column: str, counts: list[tuple[str, int]], index: _LevelIndex, *, similar: bool
              ) -> tuple[ColumnProposal, int]:
    """The proposal of one column against one level, and how many rows belong to the level."""
    total = sum(n for _, n in counts)
    standard_rows, belong = 0, 0
    mappings: list[ValueMapping] = []
    unknown: list[UnknownValue] = []
    for i, (value, n) in enumerate(counts):
        std, reason, candidates = index.match(value, similar and i < MAX_SIMILAR)
        if std is not None and reason is None:
            standard_rows += n
            belong += n
        elif std is not None and reason is not None:
            mappings.append(ValueMapping(original=value, standard=std, rows=n, confidence=CONFIDENCE[reason],
                                         reason=reason))
            belong += n if reason != "similar" else 0
        else:
            unknown.append(UnknownValue(value=value, rows=n, candidates=candidates))
    mappings.sort(key=lambda m: (-m.rows, m.original))
    unknown.sort(key=lambda u: (-u.rows, u.value))
    return ColumnProposal(column=column, dictionary=index.dictionary, level=index.level, rows=total,
                          standard_rows=standard_rows, mappings=mappings, unknown=unknown), belong


def value_counts(frame: pl.DataFrame, column: str) -> list[tuple[str, int]]:
    """Distinct non-empty values of a text column with their row counts, most frequent first."""
    s = frame.get_column(column)
    if s.dtype != pl.String:
        s = s.cast(pl.String, strict=False)
    vc = s.drop_nulls().filter(s.drop_nulls().str.strip_chars() != "").value_counts(sort=True, name="n")
    return [(str(v), int(n)) for v, n in vc.iter_rows()]


def propose_column(column: str, counts: list[tuple[str, int]], dictionaries: Sequence[ValueDictionary]
                   ) -> ColumnProposal | None:
    """The best dictionary level for a column's values, or None when no level holds most of its rows.

    Ties go to the level named in the column (a column 街道 prefers the 街道 level)."""
    total = sum(n for _, n in counts)
    if not total or len(counts) > MAX_DISTINCT:
        return None
    best: tuple[tuple[int, int], _LevelIndex] | None = None
    for d in dictionaries:
        for level in d.levels():
            index = _index(d, level)
            _p, belong = _proposal(column, counts, index, similar=False)
            if belong < MIN_SHARE * total:
                continue
            rank = (belong, int(bool(level) and level in column))
            if best is None or rank > best[0]:
                best = (rank, index)
    return _proposal(column, counts, best[1], similar=True)[0] if best else None


@functools.lru_cache(maxsize=64)
def _cached_index(body: str, level: str) -> _LevelIndex:
    return _LevelIndex(ValueDictionary.model_validate_json(body), level)


def _index(d: ValueDictionary, level: str) -> _LevelIndex:
    # folding every alias through OpenCC once per dictionary, not once per column
    return _cached_index(d.model_dump_json(), level)


def propose(frame: pl.DataFrame, dictionaries: Sequence[ValueDictionary],
            columns: Iterable[str] | None = None) -> list[ColumnProposal]:
    """Proposals for every text column (or the given ones) whose values mostly belong to a dictionary.

    Columns whose values are all standard already are left out: there is nothing to decide."""
    if not dictionaries:
        return []
    names = list(columns) if columns is not None else [c for c, t in frame.schema.items() if t == pl.String]
    out = []
    for c in names:
        p = propose_column(c, value_counts(frame, c), dictionaries)
        if p is not None and (p.mappings or p.unknown):
            out.append(p)
    return out


def settle(frame: pl.DataFrame, proposals: list[ColumnProposal], chosen: dict[str, dict[str, str]],
           *, auto: bool) -> tuple[list[ColumnProposal], dict[str, dict[str, str]]]:
    """Mark what is applied: the clerk's choices first, then (auto) the high-confidence proposals.

    `chosen` is column → {original: standard}; a value mapped to itself is one the clerk keeps as
    it is (auto never maps it). A choice for a value no dictionary matched becomes a mapping of its
    own ("clerk"). Returns the proposals with `accepted` set and the choices to remember (the
    recipe's): every accepted mapping and every kept value of this file.
    """
    out: list[ColumnProposal] = []
    remember: dict[str, dict[str, str]] = {}
    seen: set[str] = set()
    for p in proposals:
        seen.add(p.column)
        mine = chosen.get(p.column, {})
        mappings = []
        for m in p.mappings:
            if m.original in mine:
                m = _chosen(m, mine[m.original])
            elif auto and m.confidence >= HIGH_CONFIDENCE:
                m = m.model_copy(update={"accepted": True})
            mappings.append(m)
        unknown = []
        for u in p.unknown:
            std = mine.get(u.value)
            if std and std != u.value:
                mappings.append(ValueMapping(original=u.value, standard=std, rows=u.rows, confidence=1.0,
                                             reason="clerk", accepted=True))
            else:
                unknown.append(u)
        out.append(p.model_copy(update={"mappings": mappings, "unknown": unknown}))
        keep = {m.original: m.standard if m.accepted else m.original
                for m in mappings if m.accepted or m.original in mine}
        if keep:
            remember[p.column] = keep
    for column, mine in chosen.items():  # the clerk's mappings of a column no dictionary fits (any more)
        if column in seen or column not in frame.columns:
            continue
        counts = dict(value_counts(frame, column))
        mappings = [ValueMapping(original=o, standard=s, rows=counts[o], confidence=1.0, reason="clerk",
                                 accepted=True) for o, s in mine.items() if o in counts and s != o]
        if mappings:
            out.append(ColumnProposal(column=column, dictionary="", rows=sum(counts.values()),
                                      standard_rows=0, mappings=mappings))
            remember[column] = {m.original: m.standard for m in mappings}
    return out, remember


def _chosen(m: ValueMapping, standard: str) -> ValueMapping:
    """A proposal as the clerk decided: kept as written (standard == original), accepted, or fixed."""
    if standard == m.original:
        return m.model_copy(update={"accepted": False})
    if standard == m.standard:
        return m.model_copy(update={"accepted": True})
    return m.model_copy(update={"accepted": True, "standard": standard, "reason": "clerk", "confidence": 1.0})


def apply(frame: pl.DataFrame, proposals: Iterable[ColumnProposal]) -> pl.DataFrame:
    """The frame with every accepted mapping applied (other values, and nulls, untouched)."""
    exprs = []
    for p in proposals:
        mapping = p.accepted()
        if mapping and p.column in frame.columns:
            col = pl.col(p.column)
            exprs.append(col.replace(list(mapping), list(mapping.values())).alias(p.column))
    return frame.with_columns(exprs) if exprs else frame


def summary_zh(proposals: Iterable[ColumnProposal]) -> str:
    """One line: what was standardised (empty when nothing was)."""
    parts = []
    for p in proposals:
        done = [m for m in p.mappings if m.accepted]
        if done:
            parts.append(f"「{p.column}」{len(done)} 种写法 {sum(m.rows for m in done)} 行")
    return "已按数据标准统一：" + "，".join(parts) if parts else ""


# ---------------------------------------------------------------------- dictionaries from a table
# header words a clerk's spreadsheet may use for each field
_FIELDS: dict[str, tuple[str, ...]] = {
    "standard": ("标准名称", "标准值", "名称", "标准名", "name", "standard"),
    "code": ("编码", "代码", "区划代码", "code"),
    "level": ("层级", "级别", "类别", "level"),
    "parent": ("上级", "上级名称", "所属", "parent"),
    "aliases": ("别名", "其他写法", "曾用名", "aliases", "alias"),
}
_ALIAS_SPLIT = re.compile(r"[、,，;；|/\n]+")


def from_frame(name: str, frame: pl.DataFrame, *, description: str = "", prefixes: Sequence[str] = ()
               ) -> ValueDictionary:
    """A dictionary from a clerk's table (标准名称 / 编码 / 层级 / 上级 / 别名, any order; 别名 split on 、,;|)."""
    found: dict[str, str] = {}
    for col in frame.columns:
        key = fold(col)
        for field, words in _FIELDS.items():
            if field not in found and key in {fold(w) for w in words}:
                found[field] = col
    if "standard" not in found:
        raise UserFacingError(
            f"字典「{name}」的表格中没有找到「标准名称」列。",
            hint="表格需要一列「标准名称」，可选列：编码、层级、上级、别名（多个别名用顿号分隔）",
        )
    entries: list[Entry] = []
    seen: set[tuple[str, str, str]] = set()
    for i, row in enumerate(frame.select(list(found.values())).cast(pl.String).iter_rows(named=True), start=2):
        cell = {f: (row[c] or "").strip() for f, c in found.items()}
        if not cell["standard"]:
            continue
        key = (cell.get("level", ""), cell.get("parent", ""), cell["standard"])
        if key in seen:
            raise UserFacingError(f"字典「{name}」第 {i} 行的「{cell['standard']}」重复出现。",
                                  hint="同一上级下每个标准名称只能出现一次，请删除重复的行")
        seen.add(key)
        aliases = [a.strip() for a in _ALIAS_SPLIT.split(cell.get("aliases", "")) if a.strip()]
        entries.append(Entry(standard=cell["standard"], code=cell.get("code", ""), level=cell.get("level", ""),
                             parent=cell.get("parent", ""), aliases=aliases))
    if not entries:
        raise UserFacingError(f"字典「{name}」的表格中没有任何标准名称。", hint="请在「标准名称」列填写标准值")
    known = {e.standard for e in entries}
    orphans = sorted({e.parent for e in entries if e.parent and e.parent not in known})
    if orphans:
        raise UserFacingError(f"字典「{name}」中的上级「{'、'.join(orphans[:5])}」本身不在字典里。",
                              hint="请为每个上级也写一行（例如先列出各区，再列出各街道）")
    try:
        return ValueDictionary(name=name, description=description, prefixes=list(prefixes), entries=entries)
    except ValidationError as err:
        raise UserFacingError(f"字典「{name}」的内容不正确。", hint="名称最多 64 个字符，标准名称不能为空",
                              detail=str(err)) from err


TABLE_COLUMNS = ("标准名称", "编码", "层级", "上级", "别名")


def to_frame(d: ValueDictionary) -> pl.DataFrame:
    """The dictionary as the table a clerk edits or exports (the same columns `from_frame` reads)."""
    return pl.DataFrame({
        "标准名称": [e.standard for e in d.entries], "编码": [e.code for e in d.entries],
        "层级": [e.level for e in d.entries], "上级": [e.parent for e in d.entries],
        "别名": ["、".join(e.aliases) for e in d.entries],
    }, schema=dict.fromkeys(TABLE_COLUMNS, pl.String))
