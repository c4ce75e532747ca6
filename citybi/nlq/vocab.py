"""Per-dataset vocabulary: what words in a question can mean in this table.

Built from the catalog (column names with units stripped, user synonyms, the built-in
lexicon) and from the data itself: the distinct values of every text column, learned
over the whole column through `execute` with one bounded query and cached per (table, column,
version, row_count) so that re-imported data is re-learned. A live dataset (its rows are on
another engine and change without any write here) keeps its values for LIVE_VALUES_TTL_S only.
Matching is longest-first over the question, so 南湖监测站 wins over 南湖 and 清运量 over 清运.
"""
from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from citybi import context
from citybi.schema import ColumnInfo, DatasetInfo

from .lexicon import (
    CONCEPTS,
    COUNT_NOUNS,
    DROPPABLE_SUFFIXES,
    GENERIC,
    HEAD_NOUNS,
    HEAD_SWAPS,
    ID_NAME,
    MODIFIER_PREFIXES,
    NAME_TAILS,
    VALUE_SUFFIXES,
)
from .text import core_name, norm

MAX_DISTINCT = 200_000  # beyond this a column is an identifier, not a dimension to match
MAX_VALUE_LEN = 60

# strength of a match: exact name/value beats a derived alias beats a partial name
EXACT, ALIAS, PARTIAL = 3, 2, 1


@dataclass(frozen=True)
class Entry:
    kind: str  # "column" | "value" | "table"
    column: str | None
    value: Any = None
    strength: int = EXACT


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    text: str
    entries: tuple[Entry, ...]  # all readings of this span (more than one = ambiguous)

    @property
    def kind(self) -> str:
        return self.entries[0].kind

    @property
    def column(self) -> str | None:
        return self.entries[0].column

    @property
    def strength(self) -> int:
        return self.entries[0].strength


@dataclass
class Vocabulary:
    dataset: DatasetInfo
    words: dict[str, list[Entry]] = field(default_factory=dict)
    distinct: dict[str, int] = field(default_factory=dict)  # text column → distinct count
    values: dict[str, list[Any]] = field(default_factory=dict)
    max_len: int = 1
    single_values: dict[str, list[Entry]] = field(default_factory=dict)  # 优 / 良: one-character values

    def add(self, word: str, entry: Entry) -> None:
        if not word:
            return
        lst = self.words.setdefault(word, [])
        if entry not in lst:
            lst.append(entry)
        self.max_len = max(self.max_len, len(word))

    def column_info(self, name: str) -> ColumnInfo:
        col = self.dataset.column(name)
        assert col is not None
        return col

    def is_key(self, column: str) -> bool:
        """Nearly one row per value: naming a value picks out single rows (a lookup)."""
        n = self.distinct.get(column, 0)
        rows = max(1, self.dataset.row_count)
        return n >= 2 and n >= 0.8 * rows

    def is_id(self, column: str) -> bool:
        """An identifier (工单编号, 设施ID): it names single rows, never a group or a count noun."""
        return _is_id(column)

    def entity_column(self) -> str | None:
        """The column that names the things a row is about (企业名称, 项目名称, 区) — never an ID."""
        text_cols = [c for c in self.dataset.columns if c.type == "text" and c.name in self.distinct]
        text_cols = [c for c in text_cols if not self.is_id(c.name)] or text_cols
        if not text_cols:
            return None
        named = [c for c in text_cols if "名称" in c.name or c.name.endswith("名")]
        pool = named or text_cols
        return max(pool, key=lambda c: (self.distinct.get(c.name, 0), -text_cols.index(c))).name

    def scan(self, q: str, taken: Sequence[bool]) -> list[Mention]:
        """All non-overlapping mentions in q, longest (then strongest) first."""
        cands: list[tuple[int, int, int, int, list[Entry]]] = []
        n = len(q)
        for i in range(n):
            if taken[i]:
                continue
            for j in range(min(n, i + self.max_len), i, -1):
                word = q[i:j]
                entries = self.words.get(word)
                if not entries or any(taken[i:j]):
                    continue
                ok = [e for e in entries if _context_ok(q, i, j, e)]
                if ok:
                    best = max(e.strength for e in ok)
                    ok = [e for e in ok if e.strength == best]
                    kind_rank = {"column": 2, "value": 2, "table": 0}[ok[0].kind]
                    cands.append((j - i, best, kind_rank, i, ok))
        cands.sort(key=lambda c: (-c[0], -c[1], -c[2], c[3]))
        used = list(taken)
        out: list[Mention] = []
        for length, _s, _k, i, entries in cands:
            if any(used[i:i + length]):
                continue
            for k in range(i, i + length):
                used[k] = True
            # a value read and a column read of the same span: prefer columns, then values
            entries.sort(key=lambda e: {"column": 0, "value": 1, "table": 2}[e.kind])
            out.append(Mention(i, i + length, q[i:i + length], tuple(entries)))
        out.sort(key=lambda m: m.start)
        return out


SINGLE_BEFORE = ("各", "每个", "每", "哪个", "哪些", "哪一个", "按", "分", "个")
SINGLE_AFTER = ("的", "有", "分别", "统计", "排名", "排序", "最", "和", "与", "、")


def _context_ok(q: str, i: int, j: int, e: Entry) -> bool:
    """One-character words (区, 优, 是) only count where the grammar says they are meant."""
    if j - i > 1:
        return True
    before, after = q[max(0, i - 3):i], q[j:j + 2]
    if e.kind == "column":
        return before.endswith(SINGLE_BEFORE) or after.startswith(SINGLE_AFTER) or j == len(q)
    if e.kind == "value":
        return before.endswith(("为", "是", "=", "等于")) and (j == len(q) or not ("\u4e00" <= q[j] <= "\u9fff")
                                                           or after.startswith(("的", "级", "和", "或")))
    return False


class SizedLRU:
    """A least-recently-used cache bounded by the total size of what it holds, not by entries:
    one table with 200,000 street names weighs as much as thousands of small ones, and a
    warehouse of many big tables must not grow the process without limit."""

    def __init__(self, budget: int, size: Callable[[Any], int]) -> None:
        self.budget, self.size = budget, size
        self.items: OrderedDict[Any, tuple[Any, int, float | None]] = OrderedDict()
        self.total = 0

    def get(self, key: Any) -> Any | None:
        hit = self.items.get(key)
        if hit is None:
            return None
        if hit[2] is not None and time.monotonic() >= hit[2]:
            self.total -= self.items.pop(key)[1]
            return None
        self.items.move_to_end(key)
        return hit[0]

    def put(self, key: Any, value: Any, ttl_s: float | None = None) -> None:
        """Keep `value`; with `ttl_s`, only for that many seconds."""
        cost = max(1, self.size(value))
        if key in self.items:
            self.total -= self.items.pop(key)[1]
        self.items[key] = (value, cost, None if ttl_s is None else time.monotonic() + ttl_s)
        self.total += cost
        while self.total > self.budget and len(self.items) > 1:
            _k, (_v, c, _e) = self.items.popitem(last=False)
            self.total -= c

    def clear(self) -> None:
        self.items.clear()
        self.total = 0


# learned values: at most ~2 million values in memory (a few hundred MB of short strings at worst)
VALUE_BUDGET = 2_000_000
# vocabularies: counted by their words (each table's vocabulary holds its values again as words)
VOCAB_BUDGET = 3_000_000
# a live dataset's values (a new street in the department's table) are re-learned after this long:
# long enough that a conversation does not re-query the engine per question, short enough to follow it
LIVE_VALUES_TTL_S = 600.0
_CACHE = SizedLRU(VALUE_BUDGET, len)
_VOCAB_CACHE = SizedLRU(VOCAB_BUDGET, lambda v: len(v.words))
_LOCK = threading.Lock()


def learn_values(ds: DatasetInfo, col: ColumnInfo, execute: Callable[[exp.Expression], Any]) -> list[Any]:
    """Distinct values of one text column over the whole column (cached per data version and per
    caller's scope: the door narrows the query to the caller's rows, so a 临江区 user learns only
    临江区's values and never receives another scope's cached list)."""
    return _learn(ds, col, execute)[0]


def _learn(ds: DatasetInfo, col: ColumnInfo, execute: Callable[[exp.Expression], Any]
           ) -> tuple[list[Any], float | None]:
    """learn_values, and for how long they may be kept: None (until the data changes), a number of
    seconds (a live dataset), or 0 — a refused or failed read (no caller in the app, a time-out),
    answered with no values but never cached: cached, it would stand for the column's values for
    every later caller of that scope."""
    # updated_at tells apart two warehouses holding a same-named dataset at the same version and size
    key = (ds.name, col.name, ds.version, ds.row_count, ds.updated_at, context.effective().scope_key())
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached, None
    c = exp.column(col.name, quoted=True)
    tree = (exp.select(c).distinct().from_(exp.Table(this=exp.to_identifier(ds.name, quoted=True)))
            .where(exp.Not(this=exp.Is(this=c, expression=exp.Null()))).limit(MAX_DISTINCT + 1))
    try:
        result = execute(tree)
        values = [r[0] for r in result.rows]
    except Exception:  # a column we cannot read is simply not matched by value (this time)
        return [], 0
    ttl = LIVE_VALUES_TTL_S if getattr(result, "engine", "duckdb") != "duckdb" else None
    with _LOCK:
        _CACHE.put(key, values, ttl)
    return values, ttl


def build_vocabulary(ds: DatasetInfo, execute: Callable[[exp.Expression], Any]) -> Vocabulary:
    # the metrics are words of the vocabulary too: a metric added or edited makes a new vocabulary
    sig = (*tuple((c.name, c.type, c.synonyms) for c in ds.columns), ds.synonyms,
           tuple(m.model_dump_json() for m in ds.metrics), ds.updated_at)
    key = (ds.name, ds.version, ds.row_count, sig, context.effective().scope_key())  # values differ per scope
    with _LOCK:
        cached_vocab = _VOCAB_CACHE.get(key)
        if cached_vocab is not None:
            return cached_vocab
    v = Vocabulary(ds)
    _add_columns(v, ds)
    complete = True  # every text column's values were read (else the vocabulary is not cached)
    keep: float | None = None  # the shortest time any of its values may be kept (live datasets)
    for col in ds.columns:
        if col.type != "text":
            continue
        values, ttl = _learn(ds, col, execute)
        complete = complete and ttl != 0
        keep = ttl if keep is None else (keep if ttl is None else min(keep, ttl))
        v.distinct[col.name] = len(values)
        if len(values) > MAX_DISTINCT:
            continue
        v.values[col.name] = values
        for val in values:
            s = norm(str(val))
            if not s or len(s) > MAX_VALUE_LEN or s in ("—", "-", "/"):
                continue
            v.add(s, Entry("value", col.name, val, EXACT))
            if len(s) == 1 and "\u4e00" <= s <= "\u9fff":
                v.single_values.setdefault(s, []).append(Entry("value", col.name, val, EXACT))
            for suf in VALUE_SUFFIXES:
                if s.endswith(suf) and len(s) - len(suf) >= 2:
                    v.add(s[: -len(suf)], Entry("value", col.name, val, ALIAS))
                    break
    # count nouns: a table of 工单 also answers to 投诉/诉求 (its rows are counted by them)
    table_text = norm(ds.name + ds.display_name + "".join(ds.synonyms))
    for group in COUNT_NOUNS:
        if any(w in table_text for w in group) or group[0] == "记录":
            for w in group:
                # a count noun beats a piece of a column name (案件 ⊂ 案件类型), not a real name or value
                if not any(e.kind in ("column", "value") and e.strength > PARTIAL for e in v.words.get(w, [])):
                    v.add(w, Entry("table", None, "count", EXACT))
    # table name words: context that helps routing (工单 ⊂ 热线工单)
    for name in {ds.name, ds.display_name, *ds.synonyms}:
        n = norm(name)
        for i in range(len(n)):
            for j in range(i + 2, min(len(n), i + 12) + 1):
                piece = n[i:j]
                if piece not in v.words and piece not in GENERIC and all("\u4e00" <= ch <= "\u9fff" for ch in piece):
                    v.add(piece, Entry("table", None, None, PARTIAL))
    if complete:
        with _LOCK:
            _VOCAB_CACHE.put(key, v, keep)
    return v


def _add_columns(v: Vocabulary, ds: DatasetInfo) -> None:
    cores = {c.name: core_name(c.name) for c in ds.columns}
    for col in ds.columns:
        core = cores[col.name]
        v.add(norm(col.name), Entry("column", col.name, None, EXACT))
        v.add(core, Entry("column", col.name, None, EXACT))
        for syn in col.synonyms:
            v.add(norm(syn), Entry("column", col.name, None, EXACT))
        for suf in DROPPABLE_SUFFIXES:
            if core.endswith(suf) and len(core) - len(suf) >= 2:
                v.add(core[: -len(suf)], Entry("column", col.name, None, ALIAS))
                break
        for a, b in HEAD_SWAPS:
            if core.endswith(a):
                v.add(core[: -len(a)] + b, Entry("column", col.name, None, ALIAS))
    # head nouns: 所在街道 → 街道, 行政区 → 区, 区县名称 → 区 / 县, 监测站点 → 站 (text columns only:
    # these words name groups, never measures). A head shared by two columns names neither for sure.
    heads: dict[str, set[str]] = {}
    for col in ds.columns:
        if col.type != "text" or _is_id(col.name):
            continue
        core = cores[col.name]
        words: list[str] = []
        for tail in NAME_TAILS:
            if core.endswith(tail) and len(core) > len(tail):
                core = core[: -len(tail)]
                words.append(core)
                break
        for pre in MODIFIER_PREFIXES:
            if core.startswith(pre) and len(core) > len(pre):
                words.append(core[len(pre):])
        for noun in sorted(HEAD_NOUNS, key=len, reverse=True):
            if core.endswith(noun):
                words.extend(HEAD_NOUNS[noun])
                break
        for w in words:
            heads.setdefault(w, set()).add(col.name)
    for w, owners_of in heads.items():
        for name in owners_of:
            v.add(w, Entry("column", name, None, ALIAS if len(owners_of) == 1 else PARTIAL))
    # concept words: 房价 → the one column containing 均价 (first fragment that picks exactly one)
    for word, frags in CONCEPTS.items():
        if word in v.words and any(e.kind == "column" and e.strength >= ALIAS for e in v.words[word]):
            continue
        for frag in frags:
            hits = [c.name for c in ds.columns if frag in cores[c.name]]
            if len(hits) == 1:
                v.add(word, Entry("column", hits[0], None, ALIAS))
                break
            if len(hits) > 1:
                break
    # partial names: a 2+ character piece of exactly one column's name (利润 → 营业利润)
    owners: dict[str, set[str]] = {}
    for col in ds.columns:
        if _is_id(col.name):
            continue  # 工单 is not 工单编号: an ID column is named in full
        core = cores[col.name]
        for i in range(len(core)):
            for j in range(i + 2, len(core) + 1):
                if j - i < len(core):
                    owners.setdefault(core[i:j], set()).add(col.name)
    for piece, cols in owners.items():
        if len(cols) == 1 and piece not in GENERIC and piece not in v.words and not piece.isdigit():
            v.add(piece, Entry("column", next(iter(cols)), None, PARTIAL))


def _is_id(column: str) -> bool:
    return bool(re.search(ID_NAME, core_name(column), re.IGNORECASE))
