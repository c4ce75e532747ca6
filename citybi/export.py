"""Export a board's current tile results to a styled Excel workbook (bytes).

Why a module of its own and why openpyxl cell by cell: leaders forward boards as Excel, so
the workbook must read like a report (bold filled headers with units, widths that fit
Chinese text, numbers in their chart's format) and compute like data (numbers stay
numbers, dates stay dates — never "1,234" text). It must also be safe to open: openpyxl
turns any text starting with "=" into a live formula (docs/ARCHITECTURE.md § Hostile files),
and a 12345 complaint text "=HYPERLINK(…)" must not become one. Such text is written as a
string cell with Excel's own apostrophe prefix (quotePrefix), which Excel shows as the
original text and keeps as text even when the cell is edited; the exported value stays
exactly the data.

Only results already on the board are written: the export never runs queries, so what the
leader downloads is what the leader saw, under the same filters.

The pages' CSV downloads (`frame_csv`) follow the same rule: a cell that Excel would read as
a formula (`formula_like`) is written with the apostrophe Excel itself uses to mean "text".
"""
from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.hyperlink import Hyperlink

from citybi.errors import UserFacingError
from citybi.usertext import file_stem

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

    from citybi.boards import BoardRun, TileRun
    from citybi.charts.spec import ChartSpec

MAX_SHEET_NAME = 31
COVER_SHEET = "看板信息"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_SHEET_BAD = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E79")
TITLE_FONT = Font(bold=True, size=14)
THIN = Side(style="thin", color="BFBFBF")
HEADER_BORDER = Border(bottom=THIN)
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
MAX_WIDTH = 60


# ---------------------------------------------------------------------------- names
def sheet_names(titles: Sequence[str], reserved: Sequence[str] = ()) -> list[str]:
    """Valid, unique (case-insensitively, as Excel compares) sheet names of ≤31 characters."""
    taken = {r.casefold() for r in reserved}
    out: list[str] = []
    for i, title in enumerate(titles):
        base = _SHEET_BAD.sub("_", title or "").strip().strip("'").strip()
        if not base or base.casefold() == "history":  # Excel reserves "History"
            base = f"图块{i + 1}"
        base = base[:MAX_SHEET_NAME]
        name, n = base, 1
        while name.casefold() in taken:
            n += 1
            suffix = f"（{n}）"
            name = base[:MAX_SHEET_NAME - len(suffix)] + suffix
        taken.add(name.casefold())
        out.append(name)
    return out


# ---------------------------------------------------------------------------- number formats
_D3 = re.compile(r"^(,?)(?:\.(\d{1,2}))?([fde%]?)$")


def excel_format(d3: str | None, *, ratio: bool = False, integer: bool = False) -> str:
    """The Excel number format for a chart's d3-style format (,.0f → #,##0; .1% → 0.0%).

    A ratio is a percentage whatever its format says (办结率 must not export as 0.93).
    """
    if ratio:
        from citybi.charts.render import ratio_format

        d3 = ratio_format(d3)
    if d3 is None:
        if ratio:
            return "0.0%"
        return "#,##0" if integer else "#,##0.00"
    m = _D3.match(d3)
    if m is None:
        return "General"
    comma, digits, kind = m.groups()
    places = int(digits) if digits is not None else (0 if kind in ("d", "") and integer else 2)
    if kind == "d":
        places = 0
    body = ("#,##0" if comma else "0") + (("." + "0" * places) if places else "")
    if kind == "%":
        return body + "%"
    if kind == "e":
        return ("0" + (("." + "0" * places) if places else "")) + "E+00"
    return body


# ---------------------------------------------------------------------------- cells
def _clean_text(value: str) -> str:
    return ILLEGAL_CHARACTERS_RE.sub("", value)


def formula_like(text: str) -> bool:
    """Would Excel (or LibreOffice) read this text as a formula or DDE call (=cmd|…, +…, -…, @…)?"""
    return text.startswith(FORMULA_START)


def write_cell(ws: Worksheet, row: int, column: int, value: Any, number_format: str | None = None) -> Any:
    """One cell, typed: numbers as numbers, dates as dates, risky text forced to stay text."""
    cell = ws.cell(row=row, column=column)
    if value is None:
        return cell
    if isinstance(value, bool):
        cell.value = value
    elif isinstance(value, (int, float, decimal.Decimal)):
        if isinstance(value, float) and value != value:  # NaN: an empty cell, not #NUM!
            return cell
        cell.value = float(value) if isinstance(value, decimal.Decimal) else value
        if number_format:
            cell.number_format = number_format
    elif isinstance(value, dt.datetime):
        cell.value = value.replace(tzinfo=None)
        cell.number_format = DATETIME_FORMAT
    elif isinstance(value, dt.date):
        cell.value = value
        cell.number_format = DATE_FORMAT
    elif isinstance(value, dt.timedelta):
        cell.value = value.total_seconds() / 3600
        cell.number_format = "0.00"
    else:
        text = _clean_text(str(value))
        cell.value = text
        if formula_like(text):
            # openpyxl made it a formula ("f"): force a string cell and Excel's apostrophe prefix
            cell.data_type = "s"
            cell.quotePrefix = True
    return cell


def _display_width(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, float):
        text = f"{value:,.2f}"
    elif isinstance(value, (dt.date, dt.datetime)):
        text = value.isoformat()[:19]
    else:
        text = str(value)
    line = max(text.split("\n"), key=len) if text else ""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in line)


def _header(ws: Worksheet, row: int, headers: Sequence[str]) -> None:
    for j, h in enumerate(headers, start=1):
        cell = write_cell(ws, row, j, h)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.border = HEADER_BORDER
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _fit_widths(ws: Worksheet, widths: dict[int, int]) -> None:
    for j, w in widths.items():
        ws.column_dimensions[get_column_letter(j)].width = max(8, min(MAX_WIDTH, w + 2))


def write_table(ws: Worksheet, frame: pl.DataFrame, headers: Sequence[str], formats: Sequence[str | None],
                *, start_row: int = 1) -> int:
    """A header row and the frame's rows; returns the next free row."""
    _header(ws, start_row, headers)
    widths = {j: _display_width(h) for j, h in enumerate(headers, start=1)}
    r = start_row
    for r, row in enumerate(frame.iter_rows(), start=start_row + 1):
        for j, value in enumerate(row, start=1):
            write_cell(ws, r, j, value, formats[j - 1] if j - 1 < len(formats) else None)
            widths[j] = max(widths.get(j, 0), _display_width(value))
    _fit_widths(ws, widths)
    return r + 1


# ---------------------------------------------------------------------------- tiles
def _measure_header(name: str, unit: str | None) -> str:
    # "车次" contains "次" but still reads better as "车次（次）": only an explicit "（吨）" counts
    return f"{name}（{unit}）" if unit and f"（{unit}）" not in name and f"({unit})" not in name else name


def _table_layout(spec: ChartSpec, frame: pl.DataFrame, units: dict[str, str]) -> tuple[
        pl.DataFrame, list[str], list[str | None]]:
    """(frame, header texts with units, Excel formats) for an ordinary chart or a pivot."""
    measures = {m.name: m for m in spec.measures}
    if spec.type == "pivot" and spec.series is not None:
        from citybi.charts.render import check_shape
        from citybi.charts.types import get_type
        from citybi.charts.types.pivot import pivot_frame
        from citybi.config import render_limits

        pivot = get_type("pivot")
        # the same caps as on screen: a result drawn nowhere (render=False) must not pivot unbounded here
        check_shape(pivot.shape({"main": frame}, spec), render_limits(), pivot.label)
        frame = pivot_frame(frame, spec)
        n_rows = len(spec.dimensions)
        m0 = spec.measures[0]
        unit = units.get(m0.name)
        headers = [str(c) if i < n_rows else _measure_header(str(c), unit) for i, c in enumerate(frame.columns)]
        fmts: list[str | None] = [None] * n_rows + [
            excel_format(m0.format, ratio=m0.agg == "ratio", integer=frame.schema[c].is_integer())
            for c in frame.columns[n_rows:]]
        return frame, headers, fmts
    headers, fmts = [], []
    for c in frame.columns:
        m = measures.get(c)
        if m is None:
            headers.append(c)
            fmts.append(None)
            continue
        headers.append(_measure_header(c, units.get(c)))
        fmts.append(excel_format(m.format, ratio=m.agg == "ratio", integer=frame.schema[c].is_integer()))
    return frame, headers, fmts


def _write_kpi(ws: Worksheet, tile: TileRun) -> None:
    from citybi.charts.kpi import period_text

    k = tile.result.output if tile.result is not None else None
    spec = tile.spec
    assert k is not None and spec is not None
    m = spec.measures[0]
    value_fmt = excel_format(m.format, ratio=m.agg == "ratio", integer=isinstance(k.value, int))
    unit = k.unit or ""
    rows: list[tuple[str, Any, str | None, str]] = [
        ("本期", k.value, value_fmt, period_text(k.period) + (f"（{tile.period_note}）" if tile.period_note else "")),
    ]
    if k.target is not None:
        direction = "越低越好" if not k.higher_is_better else "越高越好"
        source = f"{tile.target_note}，" if tile.target_note else ""
        rows.append(("目标", k.target, value_fmt, source + direction))
        rows.append(("完成率", k.pct_of_target, "0.0%", "已达标" if k.target_met else "未达标"))
    elif tile.target_note:  # the board's filters left the card without a target that fits
        rows.append(("目标", None, value_fmt, tile.target_note))
    for c in k.comparisons:
        base_name = "上期" if c.name == "环比" else "去年同期"
        rows.append((base_name, c.base, value_fmt, period_text(c.period)))
        good = "" if c.good is None else ("（向好）" if c.good else "（变差）")
        if k.ratio:  # a share changes by percentage points, not by a percentage of itself
            change = None if c.delta is None else c.delta * 100
            rows.append((f"{c.name}变化（百分点）", change, "+0.0;-0.0;0.0", f"{c.arrow}{good}"))
        else:
            rows.append((f"{c.name}变化", c.pct, "+0.0%;-0.0%;0.0%", f"{c.arrow}{good}"))
    headers = ["项目", _measure_header(k.label, unit), "说明"]
    _header(ws, 1, headers)
    widths = {1: 10, 2: _display_width(headers[1]), 3: 12}
    for r, (label, value, fmt, note) in enumerate(rows, start=2):
        write_cell(ws, r, 1, label)
        write_cell(ws, r, 2, value, fmt)
        write_cell(ws, r, 3, note)
        widths[2] = max(widths[2], _display_width(value))
        widths[3] = max(widths[3], _display_width(note))
    _fit_widths(ws, widths)
    if k.sparkline:
        start = len(rows) + 3
        spark = pl.DataFrame({"期间": [p[0] for p in k.sparkline], "值": [p[1] for p in k.sparkline]},
                             schema={"期间": pl.Date, "值": pl.Float64})
        write_table(ws, spark, ["期间起始日", _measure_header(k.label, unit)], [None, value_fmt], start_row=start)
        _fit_widths(ws, {1: 12, 2: max(widths[2], _display_width(headers[1]))})


def _write_tile(ws: Worksheet, tile: TileRun) -> None:
    if tile.result is None or tile.spec is None:
        write_cell(ws, 1, 1, f"「{tile.title}」没有结果：{tile.error or '未运行'}")
        ws.column_dimensions["A"].width = MAX_WIDTH
        return
    if tile.spec.type == "kpi":
        _write_kpi(ws, tile)
        return
    try:
        frame, headers, fmts = _table_layout(tile.spec, tile.result.frame, tile.units)
    except UserFacingError as err:  # a pivot past the size caps: this sheet says so, the others are written
        write_cell(ws, 1, 1, f"「{tile.title}」无法导出：{err}")
        ws.column_dimensions["A"].width = MAX_WIDTH
        return
    end = write_table(ws, frame, headers, fmts)
    ws.freeze_panes = "A2"
    if frame.height:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{end - 1}"


def _write_cover(ws: Worksheet, run: BoardRun, names: list[str], now: dt.datetime) -> None:
    write_cell(ws, 1, 1, run.board.title).font = TITLE_FONT
    info = [
        ("说明", run.board.description or "—"),
        ("数据日期", run.today),
        ("筛选条件", "；".join(run.values.describe()) or "无（各图块按自身设置的时间范围）"),
        ("导出时间", now.replace(microsecond=0)),
    ]
    for r, (k, v) in enumerate(info, start=2):
        write_cell(ws, r, 1, k).font = Font(bold=True)
        write_cell(ws, r, 2, v)
    start = len(info) + 3
    _header(ws, start, ["序号", "图块", "工作表", "时间范围", "状态"])
    for i, (tile, name) in enumerate(zip(run.tiles, names, strict=True), start=1):
        r = start + i
        write_cell(ws, r, 1, i)
        write_cell(ws, r, 2, tile.title)
        link = write_cell(ws, r, 3, name)
        link.hyperlink = Hyperlink(ref=link.coordinate, location=f"'{name}'!A1")  # in-workbook link
        link.font = Font(color="0563C1", underline="single")
        write_cell(ws, r, 4, (tile.period_text or "—") + (f"（{tile.period_note}）" if tile.period_note else ""))
        # a sheet that did not take every filter says so where the reader checks each sheet
        status = f"出错：{tile.error}" if not tile.ok else "；".join(x for x in ("正常", tile.not_taken_text) if x)
        write_cell(ws, r, 5, status)
    _fit_widths(ws, {1: 10, 2: max([_display_width(t.title) for t in run.tiles] + [30]),
                     3: max([_display_width(n) for n in names] + [8]), 4: 24, 5: 12})


def export_board(run: BoardRun, *, cover: bool = True, now: dt.datetime | None = None) -> bytes:
    """The workbook as bytes: an optional 看板信息 sheet, then one sheet per tile in board order."""
    wb = Workbook()
    names = sheet_names([t.title for t in run.tiles], reserved=[COVER_SHEET] if cover else [])
    first = wb.active
    assert first is not None
    if cover:
        first.title = COVER_SHEET
        _write_cover(first, run, names, now or dt.datetime.now())
    else:
        wb.remove(first)
    for tile, name in zip(run.tiles, names, strict=True):
        _write_tile(wb.create_sheet(title=name), tile)
    if not cover and not run.tiles:
        wb.create_sheet(title="空看板")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def export_rows(title: str, frame: pl.DataFrame, notes: Sequence[str] = ()) -> bytes:
    """The rows behind a board number (查看明细) as a workbook: a title, the filters and the
    row count as notes, then the rows typed like the board's own export (no live formulas)."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet_names([title])[0]
    write_cell(ws, 1, 1, title).font = TITLE_FONT
    for r, note in enumerate(notes, start=2):
        write_cell(ws, r, 1, note)
    write_table(ws, frame, [str(c) for c in frame.columns], [None] * frame.width, start_row=len(notes) + 3)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def export_file_name(run: BoardRun) -> str:
    safe = _SHEET_BAD.sub("_", run.board.title).strip() or "看板"
    return f"{safe}_{run.today.isoformat()}.xlsx"


# ---------------------------------------------------------------------------- CSV
def _csv_value(value: Any) -> str:
    """One CSV field: numbers bare (Excel reads them as numbers), formula-like text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return "" if value != value else repr(value)
    if isinstance(value, (int, decimal.Decimal)):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    # the apostrophe is what Excel shows for "typed as text" (the Excel export's quotePrefix)
    return "'" + text if formula_like(text) else text


def frame_csv(frame: pl.DataFrame) -> bytes:
    """The frame as CSV for Excel: UTF-8 with BOM (Chinese opens correctly), no live formulas."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([_csv_value(str(c)) for c in frame.columns])
    for row in frame.iter_rows():
        writer.writerow([_csv_value(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")


def csv_file_name(title: str) -> str:
    """A download name from user text: characters Windows refuses in file names replaced."""
    return file_stem(title, "数据", sep="_") + ".csv"
