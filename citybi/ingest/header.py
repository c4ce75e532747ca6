"""Find the header block of a raw sheet and turn it into clean, unique column names.

Why not "row 1 is the header": department reports open with a title, a 填报单位/单位 line
or the NBS 数据库/指标/时间 preamble, and often have a two-level merged header. This module
looks only at `RawSheet.top` (the first ~60 rows as Python values) and the merged ranges,
and decides which rows are preamble, which are header levels, and which unit row follows.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from citybi.ingest.cells import (
    KV_RE,
    clean_label,
    is_empty,
    is_null_marker,
    looks_numeric,
    scoped_units,
    split_footnote,
    unit_of_cell,
    unit_of_indicator,
    unit_of_label,
    valid_unit,
    year_number,
)
from connectors.base import MergedRange, RawSheet

# A short English column code (date, street_name, PM2.5, CO_1h): the second name row of
# bilingual templates ("日期 / date"), a name and never data.
_CODE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,30}$")
_CJK_RE = re.compile(r"[\u3400-\u9fff]")
# How many leading rows may be preamble before we give up and take the first non-blank row.
_MAX_PREAMBLE = 30
_MAX_DEPTH = 4


@dataclass
class HeaderBlock:
    """What the top of the sheet says, before the body is touched."""

    header_rows: list[int]  # 0-based sheet rows of the header levels, top first
    body_start: int  # 0-based first sheet row of the body
    preamble: list[str] = field(default_factory=list)
    raw_levels: list[list[str]] = field(default_factory=list)  # per column, raw header cells
    names: list[str] = field(default_factory=list)  # per column, joined clean name ("" = none)
    units: dict[int, str] = field(default_factory=dict)  # per column unit from header/unit row
    flags: dict[int, list[str]] = field(default_factory=dict)  # per column footnote markers
    table_unit: str | None = None  # from 单位：X / 指标：…(X), for numeric columns without one
    unit_rows: list[int] = field(default_factory=list)  # 0-based rows holding only units
    code_rows: list[int] = field(default_factory=list)  # 0-based header rows of English column codes
    codes: dict[int, str] = field(default_factory=dict)  # per column its English code (an alias)


def _value(raw: RawSheet, r: int, c: int) -> Any:
    if r < len(raw.top) and c < len(raw.top[r]):
        return raw.top[r][c]
    return None


def _merge_at(merged: list[MergedRange], r: int, c: int) -> MergedRange | None:
    for m in merged:
        if m.contains(r, c):
            return m
    return None


def _row_cells(raw: RawSheet, r: int) -> list[tuple[int, Any]]:
    row = raw.top[r] if r < len(raw.top) else []
    return [(c, v) for c, v in enumerate(row) if not is_empty(v)]


def _table_width(raw: RawSheet) -> int:
    cols: set[int] = set()
    for row in raw.top:
        for c, v in enumerate(row):
            if not is_empty(v):
                cols.add(c)
    return len(cols)


def _is_preamble(raw: RawSheet, r: int, width: int) -> bool:
    """A title or a 'key：value' line, not a header row."""
    cells = _row_cells(raw, r)
    if not cells:
        return False
    texts = [v for _, v in cells if isinstance(v, str)]
    if len(texts) == len(cells) and all(KV_RE.match(clean_label(t)) for t in texts):
        return True
    if len(texts) != len(cells):
        return False
    if len(cells) == 1 and width >= 2:
        return True
    if len(cells) <= 2 and width >= 6:
        covered = 0
        for c, _ in cells:
            m = _merge_at(raw.merged, r, c)
            covered += (m.last_col - m.first_col + 1) if m else 1
        return covered < 0.5 * width
    return False


def _body_mostly_numeric(raw: RawSheet, col: int, start: int) -> bool:
    vals = [_value(raw, r, col) for r in range(start, min(start + 20, len(raw.top)))]
    vals = [v for v in vals if not is_empty(v) and not is_null_marker(v)]
    if not vals:
        return False
    return sum(1 for v in vals if looks_numeric(v)) >= 0.8 * len(vals)


def _is_header_text(v: Any) -> bool:
    return isinstance(v, str) and not looks_numeric(v) and not is_null_marker(v) and not is_empty(v)


def _is_unit_row(raw: RawSheet, r: int) -> bool:
    cells = _row_cells(raw, r)
    return bool(cells) and all(
        isinstance(v, str) and (unit_of_cell(clean_label(v)) or scoped_units(clean_label(v))) for _, v in cells
    )


def _is_code_row(raw: RawSheet, h: int, nxt: int) -> bool:
    """Row `nxt` repeats the header above it as short English codes (日期 / date, 街道 / street).

    Every cell is a code, under a Chinese header cell, covering most named columns; and some
    of those columns hold numbers or dates below, where a word could only be a name.
    """
    cells = _row_cells(raw, nxt)
    if len(cells) < 2 or not all(isinstance(v, str) and _CODE_RE.match(v.strip()) for _, v in cells):
        return False
    named = [c for c in range(raw.n_cols) if any(_level_text(raw, r, c) for r in range(h, nxt))]
    if not all(c in named for c, _ in cells) or len(cells) < 0.6 * len(named):
        return False
    chinese = sum(1 for c, _ in cells if any(_CJK_RE.search(_level_text(raw, r, c)) for r in range(h, nxt)))
    if chinese < 0.6 * len(cells):
        return False
    below = [r for r in range(nxt + 1, min(nxt + 21, len(raw.top))) if _row_cells(raw, r)]
    codes = {v.strip().lower() for _, v in cells}
    if any(isinstance(v, str) and v.strip().lower() in codes for r in below for _, v in _row_cells(raw, r)):
        return False  # the same words again below: data (ids, categories), not names
    return any(_body_typed(raw, c, below) for c, _ in cells)


def _body_typed(raw: RawSheet, col: int, rows: list[int]) -> bool:
    vals = [_value(raw, r, col) for r in rows]
    vals = [v for v in vals if not is_empty(v) and not is_null_marker(v)]
    return bool(vals) and all(looks_numeric(v) or isinstance(v, (dt.date, dt.datetime)) for v in vals)


def _depth(raw: RawSheet, h: int) -> int:
    """How many rows the header block starting at row h spans (merges, then content)."""
    depth = 1
    while depth < _MAX_DEPTH:
        nxt = h + depth
        if nxt >= len(raw.top) or _is_unit_row(raw, nxt):
            break
        if _is_code_row(raw, h, nxt):  # the codes close the header block
            depth += 1
            break
        # a vertical merge from a header row into the next row extends the block
        if any(h <= m.first_row < nxt <= m.last_row for m in raw.merged):
            depth += 1
            continue
        cells = _row_cells(raw, nxt)
        if not cells or not all(_is_header_text(v) for _, v in cells):
            break
        under_parent = False
        for m in raw.merged:
            if h <= m.first_row < nxt and m.last_col > m.first_col:
                if any(m.first_col <= c <= m.last_col for c, _ in cells):
                    under_parent = True
        # without merges (CSV): the row is all text exactly where the body is numeric
        if under_parent or all(_body_mostly_numeric(raw, c, nxt + 1) for c, _ in cells):
            depth += 1
            continue
        break
    return depth


def detect_header(raw: RawSheet, header_row: int | None = None, header_depth: int | None = None) -> HeaderBlock:
    """Locate preamble, header levels and unit rows; build per-column names and units.

    header_row/header_depth are the user's overrides (0-based row here).
    """
    width = _table_width(raw)
    preamble: list[str] = []
    table_unit: str | None = None
    n_top = len(raw.top)

    if header_row is None:
        h = None
        for r in range(min(n_top, _MAX_PREAMBLE)):
            if not _row_cells(raw, r):
                continue
            if _is_preamble(raw, r, width):
                continue
            h = r
            break
        if h is None:
            h = next((r for r in range(n_top) if _row_cells(raw, r)), 0)
    else:
        h = header_row
    # everything non-blank above the header is preamble, kept for the clerk
    for r in range(min(h, n_top)):
        cells = _row_cells(raw, r)
        if not cells:
            continue
        line = " ".join(clean_label(v) for _, v in cells)
        preamble.append(line)
        for _, v in cells:
            t = clean_label(v)
            u = unit_of_indicator(t) or unit_of_cell(t)
            if u and table_unit is None:
                table_unit = u

    depth = header_depth if header_depth else _depth(raw, h)
    rows = list(range(h, h + depth))

    # unit rows right under the header: '单位：吨' or '(万元)' cells only
    units: dict[int, str] = {}
    unit_rows: list[int] = []
    r = h + depth
    while r < n_top and _is_unit_row(raw, r):
        cells = _row_cells(raw, r)
        if len(cells) == 1 and clean_label(cells[0][1]).startswith(("单位", "计量单位")):
            table_unit = table_unit or unit_of_cell(clean_label(cells[0][1]))
        else:
            for c, v in cells:
                u = unit_of_cell(clean_label(v))
                if u:  # a scoped line ("浓度单位：…") is placed after the names are known
                    units[c] = u
        unit_rows.append(r)
        r += 1
    body_start = r

    block = HeaderBlock(header_rows=rows, body_start=body_start, preamble=preamble, table_unit=table_unit,
                        unit_rows=unit_rows)
    if depth >= 2 and _is_code_row(raw, h, h + depth - 1):
        block.code_rows = [h + depth - 1]
    _build_names(raw, block, units)
    _place_scoped_units(raw, block, [r for r in range(min(h, n_top))] + unit_rows)
    return block


def _place_scoped_units(raw: RawSheet, block: HeaderBlock, rows: list[int]) -> None:
    """Attach each "浓度单位：微克/立方米" to the columns it names, or else to the columns under it.

    Named: a column whose header contains the scope word (浓度, CO). Under it: the columns the
    cell is merged across. A column whose own header carries a unit keeps it; a scope that fits
    no column is left alone (it stays in the preamble the clerk sees).
    """
    for r in rows:
        for c, v in _row_cells(raw, r):
            if not isinstance(v, str):
                continue
            for scope, unit in scoped_units(clean_label(v)):
                targets = [i for i, name in enumerate(block.names) if name and _names_scope(name, scope)]
                if not targets:
                    m = _merge_at(raw.merged, r, c)
                    if m is None or m.last_col == m.first_col:
                        continue
                    targets = [i for i in range(m.first_col, m.last_col + 1) if block.names[i]]
                for i in targets:
                    block.units.setdefault(i, unit)


def _names_scope(name: str, scope: str) -> bool:
    """浓度 in PM2.5浓度 or 浓度/PM2.5; an ASCII code (CO) only as a whole word (not CODcr)."""
    if re.search(r"[\u3400-\u9fff]", scope):
        return scope in name
    return any(re.fullmatch(re.escape(scope) + r"(?:[^A-Za-z0-9].*)?", part, re.I) for part in name.split("/"))


def _level_text(raw: RawSheet, r: int, c: int) -> str:
    v = _value(raw, r, c)
    if is_empty(v):
        m = _merge_at(raw.merged, r, c)
        if m is not None:
            v = _value(raw, m.first_row, m.first_col)
    if isinstance(v, float) and year_number(v):
        return str(int(v))
    return clean_label(v)


def _build_names(raw: RawSheet, block: HeaderBlock, units: dict[int, str]) -> None:
    n_cols = raw.n_cols
    for r in block.code_rows:
        for c, v in _row_cells(raw, r):
            block.codes[c] = clean_label(v)
    name_rows = [r for r in block.header_rows if r not in block.code_rows]
    _build_levels(raw, block, units, name_rows)
    if block.code_rows:  # the plan shows every header cell, the codes included
        codes = [clean_label(_value(raw, block.code_rows[0], c)) for c in range(n_cols)]
        block.raw_levels = [[*lv, codes[c]] for c, lv in enumerate(block.raw_levels)]


def _build_levels(raw: RawSheet, block: HeaderBlock, units: dict[int, str], rows: list[int]) -> None:
    n_cols = raw.n_cols
    grid = [[_level_text(raw, r, c) for c in range(n_cols)] for r in rows]
    raw_grid = [[clean_label(_value(raw, r, c)) for c in range(n_cols)] for r in rows]
    # CSV-style parents without merges: '成人,,,儿童,,' over '男,女,合计,…' — the blank upper
    # cell belongs to the nearest label on its left when the level below has a label.
    for li in range(len(rows) - 1):
        last = ""
        for c in range(n_cols):
            if grid[li][c]:
                last = grid[li][c]
            elif last and any(grid[lj][c] for lj in range(li + 1, len(rows))):
                if _merge_at(raw.merged, rows[li], c) is None:
                    grid[li][c] = last
            else:
                last = ""
    block.raw_levels = [[raw_grid[li][c] for li in range(len(rows))] for c in range(n_cols)]
    names: list[str] = []
    for c in range(n_cols):
        parts: list[str] = []
        flags: list[str] = []
        for li in range(len(rows)):
            t = grid[li][c]
            if not t:
                continue
            base, mark = split_footnote(t)
            if mark:
                flags.append(mark)
                t = base
            if not parts or parts[-1] != t:
                parts.append(t)
        names.append("/".join(parts))
        if flags:
            block.flags[c] = flags
        unit = units.get(c)
        if unit is None:
            for p in reversed(parts):
                unit = unit_of_label(p)
                if unit:
                    break
        if unit and valid_unit(unit):
            block.units[c] = unit
    block.names = names
