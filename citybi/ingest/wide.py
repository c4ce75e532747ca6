"""Wide tables (years or months as columns) — detect, and melt on request.

Why: NBS exports and yearbook tables put 2006年 … 2024年 across the top. Questions like
"历年趋势" need one period column, but the checker and the clerk's own eyes expect the
table as laid out, so we only detect by default and unpivot when the user asks.
"""
from __future__ import annotations

from collections import Counter

import polars as pl

from citybi.ingest.cells import parse_period

MIN_PERIODS = 3


def period_columns(names: dict[str, str]) -> tuple[list[str], str]:
    """(columns whose header is a period, dominant grain). names: column → header text."""
    found: list[str] = []
    grains: Counter[str] = Counter()
    for col, label in names.items():
        p = parse_period(label.split("/")[-1]) if label else None
        if p:
            found.append(col)
            grains[p[0]] += 1
    if len(found) < MIN_PERIODS:
        return [], "other"
    return found, grains.most_common(1)[0][0]


def unpivot(
    frame: pl.DataFrame, period_cols: list[str], id_cols: list[str], grain: str, name: str, value: str
) -> tuple[pl.DataFrame, int]:
    """Melt period columns into (name, value); returns the frame and how many empty cells were left out."""
    # an entirely empty period column (a year not yet published) must not turn values into text
    vals = [frame.schema[c] for c in period_cols if frame.get_column(c).null_count() < frame.height] or [pl.Float64()]
    if all(t.is_integer() for t in vals):
        target: pl.DataType = pl.Int64()
    elif all(t.is_numeric() for t in vals):
        target = pl.Float64()
    else:
        target = pl.String()
    cast = frame.with_columns([pl.col(c).cast(target) for c in period_cols])
    long = cast.unpivot(on=period_cols, index=id_cols, variable_name=name, value_name=value)
    total = long.height
    long = long.filter(pl.col(value).is_not_null())
    mapping = {c: parse_period(c.split("/")[-1]) for c in period_cols}
    if grain == "year":
        periods = {c: (p[1].year if p else None) for c, p in mapping.items()}
        dtype: pl.DataType = pl.Int32()
    else:
        periods = {c: (p[1] if p else None) for c, p in mapping.items()}
        dtype = pl.Date()
    long = long.with_columns(pl.col(name).replace_strict(periods, return_dtype=dtype, default=None))
    return long, total - long.height
