"""Build a RawSheet from plain Python rows, the way a connector would hand it over.

Why: ingest tests should state a sheet as a table literal (rows + merged ranges) and not
depend on Excel files or a reader. The body follows the connector contract in
connectors/base.py: a column keeps a native dtype when every non-null cell has that type,
otherwise it is String with each cell's text.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from connectors.base import TOP_ROWS, MergedRange, RawSheet


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    return str(v)


def _column(values: list[Any]) -> pl.Series:
    present = [v for v in values if v is not None and not (isinstance(v, str) and v == "")]
    kinds = {type(v) for v in present}
    if not present:
        return pl.Series(values=[None] * len(values), dtype=pl.String)
    if kinds == {bool}:
        return pl.Series(values=[v if v != "" else None for v in values], dtype=pl.Boolean)
    if kinds <= {int}:
        return pl.Series(values=[v if v != "" else None for v in values], dtype=pl.Int64)
    if kinds <= {int, float}:
        return pl.Series(values=[float(v) if v not in (None, "") else None for v in values], dtype=pl.Float64)
    if kinds == {dt.datetime}:
        return pl.Series(values=[v if v != "" else None for v in values], dtype=pl.Datetime("us"))
    if kinds == {dt.date}:
        return pl.Series(values=[v if v != "" else None for v in values], dtype=pl.Date)
    return pl.Series(values=[_text(v) for v in values], dtype=pl.String)


def make_raw(
    rows: list[list[Any]],
    merged: list[tuple[int, int, int, int]] | None = None,
    name: str = "Sheet1",
) -> RawSheet:
    """rows: sheet rows (ragged allowed); merged: (first_row, first_col, last_row, last_col), 0-based."""
    n_cols = max((len(r) for r in rows), default=0)
    grid = [list(r) + [None] * (n_cols - len(r)) for r in rows]

    def load_body(start: int) -> pl.DataFrame:
        part = grid[start:]
        return pl.DataFrame([_column([r[c] for r in part]).alias(f"c{c}") for c in range(n_cols)])

    return RawSheet(
        name=name,
        top=[list(r) for r in grid[:TOP_ROWS]],
        n_rows=len(grid),
        n_cols=n_cols,
        merged=[MergedRange(*m) for m in (merged or [])],
        load_body=load_body,
    )
