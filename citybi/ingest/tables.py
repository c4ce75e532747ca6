"""Several tables on one sheet: find where a new table starts, and cut the sheet to one of them.

Why: a monthly report often stacks 表1 and 表2 on one sheet, each with its own title and
header, separated by blank rows. Read as one table, the second header becomes a data row and
turns every numeric column into text. Each table is offered as its own dataset: the plan
lists them (`ImportPlan.tables`) and `ImportOptions.sheet_table` picks one.

A new table starts after one or more blank rows, with an optional one-cell title row, then
a header row (two or more text cells, none a number, a footer or a "key：value" line) that
is not the first table's header again (a header repeated after a page break is the same
table), then at least one row of data. Only the few rows after a blank run are looked at
one by one, so a 200,000-row sheet costs one vectorised pass.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from citybi.ingest.cells import (
    KV_RE,
    clean_label,
    is_empty,
    is_footer_text,
    is_null_marker,
    is_total_label,
    looks_numeric,
)
from citybi.ingest.rows import blank_rows
from connectors.base import MergedRange, RawSheet

ROW_OFFSET = "row_offset"  # RawSheet.meta key: sheet rows above a cut-out table (as text)
_MAX_CANDIDATES = 200


@dataclass(frozen=True)
class Found:
    """One table on the sheet, 0-based sheet rows (first = its title or header row)."""

    first: int
    last: int
    title: str
    names: list[str]


def row_offset(raw: RawSheet) -> int:
    return int(raw.meta.get(ROW_OFFSET, "0") or 0)


def _texts(row: list[Any]) -> list[str]:
    return [clean_label(v) for v in row if not is_empty(v)]


def _is_header_row(row: list[Any]) -> bool:
    cells = [v for v in row if not is_empty(v)]
    if len(cells) < 2:
        return False
    if not all(isinstance(v, str) and not looks_numeric(v) and not is_null_marker(v) for v in cells):
        return False
    texts = [clean_label(v) for v in cells]
    if is_footer_text(texts[0]) or any(KV_RE.match(t) for t in texts) or any(is_total_label(t) for t in texts):
        return False
    return True


def _is_title_row(row: list[Any]) -> bool:
    cells = [v for v in row if not is_empty(v)]
    return (len(cells) == 1 and isinstance(cells[0], str) and not looks_numeric(cells[0])
            and not is_footer_text(clean_label(cells[0])) and not is_total_label(cells[0]))


def find_tables(body: pl.DataFrame, cols: list[str], body_start: int, first_names: list[str],
                first_title: str, blank: pl.Series | None = None) -> list[Found]:
    """Every table of the sheet whose first table's body starts at sheet row `body_start`.

    `body` is that body (columns `cols`, row k = sheet row body_start + k). One entry means one
    table; the first entry's `first` is the body start (its header is above, already read).
    `blank`: the body's blank-row mask when the caller has it (the shaping needs it again for
    the row verdicts: found once, not twice).
    """
    n = body.height
    if n < 3 or not cols:
        return [Found(body_start, body_start + n - 1, first_title, first_names)]
    blank = _blank_rows(body, cols) if blank is None else blank.alias("b")
    starts = pl.DataFrame({"b": blank}).select((~pl.col("b") & pl.col("b").shift(1).fill_null(False)).alias("s"))
    candidates = starts.with_row_index("i").filter(pl.col("s")).get_column("i").head(_MAX_CANDIDATES).to_list()
    first_set = {t for t in first_names if t}
    found = [Found(body_start, body_start + n - 1, first_title, first_names)]
    for i in candidates:
        rows = [list(r) for r in body.select(cols).slice(i, 4).rows()]
        title = ""
        h = 0
        if rows and _is_title_row(rows[0]) and len(rows) > 1:
            title, h = _texts(rows[0])[0], 1
        if h >= len(rows) - 1 or not _is_header_row(rows[h]):
            continue
        names = [clean_label(v) for v in rows[h]]
        if {t for t in names if t} == first_set:
            continue  # the same header after a page break: the same table goes on
        data = rows[h + 1]
        cells = _texts(data)
        if not cells or is_footer_text(cells[0]):
            continue
        found.append(Found(body_start + i, body_start + n - 1, title or "、".join(t for t in names if t), names))
    # each table ends at its last non-blank row before the next one starts (found among the non-blank
    # rows' positions: a list of 200,000 Python booleans to walk back over cost more than the search)
    nonblank = (~blank).arg_true()
    out = []
    for k, f in enumerate(found):
        end = (found[k + 1].first - 1) if k + 1 < len(found) else body_start + n - 1
        at = nonblank.search_sorted(end - body_start, side="right") - 1
        last = int(nonblank[at]) + body_start if at >= 0 else f.first
        out.append(replace(f, last=max(last, f.first)))
    return out


def _blank_rows(body: pl.DataFrame, cols: list[str]) -> pl.Series:
    """Rows with no value in any column (citybi.ingest.rows.blank_rows: 200,000 rows in milliseconds)."""
    return blank_rows(body, cols).alias("b")


def cut(raw: RawSheet, body: pl.DataFrame, cols: list[str], body_start: int, table: Found) -> RawSheet:
    """The sheet reduced to one table found by `find_tables` (not the first): its rows only.

    The cells come from the first table's body frame (a column mixing the second header's
    words with numbers is text there; the shaping judges types again from every cell).
    """
    part = body.select(cols).slice(table.first - body_start, table.last - table.first + 1)
    top = [list(r) for r in part.head(60).rows()]
    offset = row_offset(raw) + table.first
    merged = [MergedRange(m.first_row - table.first, m.first_col, m.last_row - table.first, m.last_col)
              for m in raw.merged if table.first <= m.first_row and m.last_row <= table.last]
    return RawSheet(name=raw.name, top=top, n_rows=part.height, n_cols=raw.n_cols, merged=merged,
                    load_body=lambda start: part.slice(start), meta={**raw.meta, ROW_OFFSET: str(offset)})
