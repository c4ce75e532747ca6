"""The state one question is parsed in: the text, what is already understood, the spec.

Rules read and write this object in a fixed order. Each rule "takes" the characters it
understood, so later rules only see what is left, and the leftovers are what the
honesty check inspects (an unknown metric word → refuse rather than guess).
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from citybi.schema import DatasetInfo

from .model import QuerySpec
from .text import norm
from .vocab import Mention, Vocabulary


class Stop(Exception):
    """Raised by a rule that has decided the whole answer (a refusal)."""


@dataclass
class ParseContext:
    question: str
    dataset: DatasetInfo
    vocab: Vocabulary
    today: dt.date
    q: str = ""
    taken: list[bool] = field(default_factory=list)
    spec: QuerySpec | None = None
    mentions: list[Mention] = field(default_factory=list)
    cues: dict[str, int] = field(default_factory=dict)  # cue name → position in q
    filter_columns: set[str] = field(default_factory=set)  # columns used by comparisons
    value_columns: set[str] = field(default_factory=set)  # columns filtered by named values
    group_positions: dict[str, int] = field(default_factory=dict)
    rank_n: int | None = None
    refusal: str | None = None
    refusal_status: str = "unsupported"
    notes: list[str] = field(default_factory=list)
    alternatives: list[str] = field(default_factory=list)
    coverage: float = 0.0  # how much of the question this table's vocabulary explains
    extra_measures: list[str] = field(default_factory=list)  # measures found by unit/classifier
    # conversations: the previous turn's spec and what this turn does with it (rules/followup.py)
    prior: QuerySpec | None = None
    followup: bool = False
    followup_words: list[str] = field(default_factory=list)
    drop_spans: list[tuple[int, int]] = field(default_factory=list)
    inherit_measure: bool = False
    prior_agg: str | None = None
    inherited: list[str] = field(default_factory=list)
    # the other tables of the warehouse (a divisor such as 常住人口 may live in one of them)
    other_tables: Callable[[], list[tuple[DatasetInfo, Vocabulary]]] = lambda: []
    per_divisor: Any = None  # rules/per.py: the other table's divisor column, joined after the shape rule

    def __post_init__(self) -> None:
        self.q = norm(self.question)
        self.taken = [False] * len(self.q)
        self.spec = QuerySpec(table=self.dataset.name)

    def take(self, start: int, end: int) -> None:
        for i in range(max(0, start), min(end, len(self.q))):
            self.taken[i] = True

    def free(self, start: int, end: int) -> bool:
        return not any(self.taken[start:end])

    def find(self, pattern: str) -> list[re.Match[str]]:
        """Matches of pattern over characters no earlier rule has taken."""
        masked = "".join("\x00" if t else ch for ch, t in zip(self.q, self.taken, strict=True))
        return [m for m in re.finditer(pattern, masked) if m.end() > m.start()]

    def take_all(self, pattern: str) -> list[re.Match[str]]:
        found = self.find(pattern)
        for m in found:
            self.take(m.start(), m.end())
        return found

    def cue(self, name: str, pattern: str) -> bool:
        found = self.take_all(pattern)
        if found:
            self.cues.setdefault(name, found[0].start())
        return bool(found)

    def refuse(self, message: str, status: str = "unsupported") -> None:
        self.refusal = message
        self.refusal_status = status
        raise Stop

    def leftover(self) -> str:
        return "".join(ch if not t else " " for ch, t in zip(self.q, self.taken, strict=True))

    def columns_of(self, *types: str) -> list[str]:
        return [c.name for c in self.dataset.columns if c.type in types]
