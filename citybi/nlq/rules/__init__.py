"""The rule registry: the extension point of the question layer.

A rule is any object with a `name`, an `order` and `apply(ctx)`; rules run in `order` over
one ParseContext. A new rule is one new module that defines a class and decorates it with
`@register`; the built-ins below are registered exactly the same way.
"""
from __future__ import annotations

import importlib
from typing import Protocol

from ..context import ParseContext


class Rule(Protocol):
    name: str
    order: int

    def apply(self, ctx: ParseContext) -> None: ...


_RULES: dict[str, Rule] = {}

BUILTIN = ("followup", "intent", "periods", "timewords", "ranking", "mentions", "yesno", "compare", "across",
           "aggwords", "grouping", "per", "shape", "metric")  # per and metric also register their joins (after shape)


def register(cls: type) -> type:
    """Class decorator: instantiate and register a rule (a later rule of the same name wins)."""
    rule = cls()
    _RULES[rule.name] = rule
    return cls


def all_rules() -> list[Rule]:
    for mod in BUILTIN:
        importlib.import_module(f"{__name__}.{mod}")
    return sorted(_RULES.values(), key=lambda r: r.order)
