"""Table routing: when the user has not picked a table, parse against each and keep the
table whose columns and values explain the most of the question (and say which).

A reading that leaves words of the question unexplained loses to one that explains them all,
whatever their coverage: 户籍人口超过50万的区的案件数 read on 区域概况 counts districts and leaves
「案」 over, read on 城管案件 (with the condition on 区域概况, rules/across.py) it uses every word.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


def best(results: Sequence[tuple[Any, float, bool, int]]) -> tuple[Any | None, list[Any]]:
    """results: (item, coverage, parsed_ok, unused characters). Returns the winner and close runners-up."""
    ranked = sorted(results, key=lambda r: (r[2], -r[3], r[1]), reverse=True)
    if not ranked or ranked[0][1] <= 0:
        return None, []
    top = ranked[0]
    close = [r[0] for r in ranked[1:] if r[2] == top[2] and r[3] == top[3] and r[1] == top[1]]
    return top[0], close


def pick(items: Sequence[Any], score: Callable[[Any], tuple[float, bool, int]]) -> tuple[Any | None, list[Any]]:
    return best([(it, *score(it)) for it in items])
