"""What the rest of the core knows about a dataset: names, types, units, synonyms.

The catalog produces these; the question layer, the chart builder and the pages consume
them. Kept apart from catalog.py so that consumers depend on a small, stable shape rather
than on how the catalog stores it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ColumnInfo:
    name: str  # the column name in the warehouse (a quoted identifier, may be Chinese)
    type: str  # logical type: text, integer, number, date, timestamp, month, year, boolean
    duckdb_type: str
    unit: str | None = None
    description: str = ""
    synonyms: tuple[str, ...] = ()

    @property
    def is_numeric(self) -> bool:
        return self.type in ("integer", "number")

    @property
    def is_temporal(self) -> bool:
        return self.type in ("date", "timestamp", "month")


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # the table (view) name users and SQL see
    display_name: str
    description: str
    columns: tuple[ColumnInfo, ...]
    row_count: int
    version: int
    synonyms: tuple[str, ...] = ()
    updated_at: dt.datetime | None = None
    source_file: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    # the dataset's named measures (citybi.metrics.Metric), attached by Catalog.get so 问数, charts and
    # KPI cards find them with the columns; typed loosely because schema sits below the metrics layer
    metrics: tuple[Any, ...] = ()

    def column(self, name: str) -> ColumnInfo | None:
        return next((c for c in self.columns if c.name == name), None)
