"""Entry point of the importer's shaping step: RawSheet + options → (ImportPlan, clean frame).

Why one function with a fixed signature: the sandboxed reader process calls it and sends
the plan (JSON) and the frame (Arrow) back; the UI shows the plan and lets the clerk
change ImportOptions, then calls it again. Everything here is source-independent — Excel,
CSV and later database connectors all hand over the same RawSheet.

Order matters and is deliberate: header block (top rows only) → vertical merges filled in
the body → totals/footers/blank/repeated-header rows out → spacer columns out → types from
every remaining cell → implicit group labels filled → names, units, warnings → optional
unpivot.
"""
from __future__ import annotations

import itertools
import os

import polars as pl

from citybi.errors import ImportRejected
from citybi.ingest.cells import cell_text, shorten
from citybi.ingest.header import HeaderBlock, detect_header
from citybi.ingest.model import ColumnPlan, DroppedRow, ImportOptions, ImportPlan, RowRun, SheetTable, WideInfo
from citybi.ingest.rows import ROW, blank_rows, classify, fill_merged, implicit_fill, may_be_blank
from citybi.ingest.suspect import flag_suspect_values
from citybi.ingest.tables import ROW_OFFSET, cut, find_tables, row_offset
from citybi.ingest.types import POLARS_TYPES, Converted, convert
from citybi.ingest.wide import period_columns, unpivot
from connectors.base import RawSheet

_TYPE_ZH = {
    "text": "文本", "integer": "整数", "number": "数值", "date": "日期", "timestamp": "日期时间",
    "month": "年月", "year": "年份", "boolean": "是/否",
}
_WARN_FAIL_RATIO = 0.05
_NUMERIC = ("integer", "number")


def _load_body(raw: RawSheet, start: int) -> pl.DataFrame:
    if start >= raw.n_rows:
        body = pl.DataFrame({f"c{i}": pl.Series([], dtype=pl.String) for i in range(raw.n_cols)})
    else:
        body = raw.load_body(start)
    for i in range(raw.n_cols):
        if f"c{i}" not in body.columns:
            body = body.with_columns(pl.lit(None, dtype=pl.String).alias(f"c{i}"))
    return body.with_columns((pl.int_range(pl.len(), dtype=pl.Int64) + start + 1 + row_offset(raw)).alias(ROW))


def _unique_names(names: dict[int, str]) -> dict[int, str]:
    """Blank → 列N (1-based position); duplicates → name（列N）. Never polars' _1."""
    out: dict[int, str] = {}
    seen: set[str] = set()
    for idx, name in names.items():
        base = name or f"列{idx + 1}"
        cand = base
        if cand in seen:
            cand = f"{base}（列{idx + 1}）"
            k = 2
            while cand in seen:
                cand = f"{base}（列{idx + 1}-{k}）"
                k += 1
        seen.add(cand)
        out[idx] = cand
    return out


def _samples(s: pl.Series, k: int = 5) -> list[str]:
    vals = s.drop_nulls().head(50).unique(maintain_order=True).head(k).to_list()
    return [shorten(cell_text(v), 40) for v in vals]


def _convert_columns(data: pl.DataFrame, todo: list[tuple[int, str, str, str | None]]) -> dict[int, Converted]:
    """convert() for each column, several columns at a time (a thread per core, at most 4).

    Why threads: each column's judgement is a dozen small polars steps on one column; polars runs
    them with the GIL released but mostly on one core, so a 12-column file left the other core
    idle for most of the typing (200k-row CSV, 12 columns: 0.24 → 0.18–0.20 s)."""
    if len(todo) < 2 or data.height < 20_000:
        return {i: convert(data.get_column(c), header, forced) for i, c, header, forced in todo}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as ex:
        done = ex.map(lambda t: convert(data.get_column(t[1]), t[2], t[3]), todo)
        return {t[0]: cv for t, cv in zip(todo, done, strict=True)}


def build_plan(
    raw: RawSheet,
    options: ImportOptions,
    *,
    file_name: str,
    sha256: str,
    file_kind: str,
    sheets: list[str],
    skipped_sheets: list[str],
    encoding: str | None = None,
) -> tuple[ImportPlan, pl.DataFrame]:
    """Shape one raw sheet into the plan the clerk sees and the clean, typed frame."""
    header_row = options.header_row - 1 if options.header_row else None
    hb: HeaderBlock = detect_header(raw, header_row, options.header_depth)
    body = _load_body(raw, hb.body_start)
    if len(hb.names) < raw.n_cols:
        # a CSV row further down was wider than the first rows: the body's read widened the sheet
        # (extra columns, no header); the header is found again over the widened rows
        start = hb.body_start
        hb = detect_header(raw, header_row, options.header_depth)
        if hb.body_start != start:
            body = _load_body(raw, hb.body_start)
    cols = [f"c{i}" for i in range(raw.n_cols)]
    warnings: list[str] = []

    # several tables on the sheet: each is its own dataset (see citybi.ingest.tables)
    offset = row_offset(raw)
    blank: pl.Series | None = blank_rows(body, cols)  # the tables' bounds and the row verdicts both need it
    tables: list[SheetTable] = []
    if ROW_OFFSET not in raw.meta:
        first_title = hb.preamble[-1] if hb.preamble else "、".join(n for n in hb.names if n)
        found = find_tables(body, cols, hb.body_start, hb.names, first_title, blank=blank)
        if len(found) > 1:
            tables = [SheetTable(index=k + 1, title=f.title, first_row=(hb.header_rows[0] if k == 0 else f.first) + 1,
                                 last_row=f.last + 1, columns=[n for n in f.names if n])
                      for k, f in enumerate(found)]
        pick = options.sheet_table or 1
        if pick > len(found):
            raise ImportRejected(f"工作表「{raw.name}」中只有 {len(found)} 张表，没有第 {pick} 张。")
        if pick > 1:
            part = cut(raw, body, cols, hb.body_start, found[pick - 1])
            inner = options.model_copy(update={"sheet_table": None, "header_row": None, "header_depth": None})
            plan, frame = build_plan(part, inner, file_name=file_name, sha256=sha256, file_kind=file_kind,
                                     sheets=sheets, skipped_sheets=skipped_sheets, encoding=encoding)
            note = _tables_note(tables, pick)
            return plan.model_copy(update={"tables": tables, "options": options,
                                           "warnings": [note, *plan.warnings]}), frame
        if tables:
            body = body.slice(0, found[0].last - hb.body_start + 1)
            blank = blank.slice(0, body.height)
            warnings.append(_tables_note(tables, 1))

    body, merge_filled = fill_merged(body, cols, raw.merged, hb.body_start)
    if merge_filled:  # a filled merge can make a blank row a data row
        blank = None
    # the last level that names the column (an English code row below it is an alias)
    named_depth = len(hb.header_rows) - len(hb.code_rows)
    header_texts = {f"c{i}": (hb.raw_levels[i][named_depth - 1] if hb.raw_levels and named_depth > 0 else "")
                    for i in range(raw.n_cols)}
    verdict = classify(body, cols, header_texts, options.drop_totals, blank=blank)
    data = body.filter(verdict.keep)

    # blank spacer columns (no header, no data) and columns the user skipped
    overrides = options.columns
    keep_idx: list[int] = []
    dropped_columns: list[int] = []
    if cols:
        # a cell that cannot be blank settles a column at once; only all-maybe-blank columns are stripped.
        # A number, date or boolean cell is never blank: those columns are not turned into text for the
        # test (casting an .xlsx body's 200,000 floats and times to text took 0.2 s)
        schema = data.schema

        def filled(frame: pl.DataFrame, names: list[str]) -> dict[str, bool]:
            got = frame.select([
                ((~may_be_blank(pl.col(c))) if schema[c] == pl.String else pl.col(c).is_not_null()).any().alias(c)
                for c in names
            ]).row(0) if names else ()
            return dict(zip(names, got, strict=True))

        # the first rows settle nearly every column; only the rest are tested on every row (30 → ~2 ms)
        sure = filled(data.head(1000), cols)
        sure.update(filled(data, [c for c in cols if not sure[c]]))
        has_data = tuple(
            True if sure[c] else bool(data.select(
                (pl.col(c).cast(pl.String).str.strip_chars(" \t\r\n\u00a0\u3000") != "").any()).item())
            for c in cols
        )
    else:
        has_data = ()
    for i in range(len(cols)):
        ov = overrides.get(i)
        if ov is not None and ov.skip:
            continue
        if not hb.names[i] and not has_data[i]:
            dropped_columns.append(i)
            continue
        keep_idx.append(i)

    # types from every cell; then sparse left-most labels are filled and re-judged
    converted = _convert_columns(data, [(i, cols[i], hb.names[i], overrides[i].type if i in overrides else None)
                                        for i in keep_idx])
    numeric_cols = {cols[i] for i in keep_idx if converted[i].type in _NUMERIC}
    nulls = {cols[i]: converted[i].null_count for i in keep_idx}
    data, implicit = (implicit_fill(data, [cols[i] for i in keep_idx], numeric_cols, nulls) if options.fill_labels
                      else (data, {}))
    for c in implicit:
        i = cols.index(c)
        forced = overrides[i].type if i in overrides else None
        converted[i] = convert(data.get_column(c), hb.names[i], forced)

    # names, units, column plans
    names = _unique_names({i: (overrides[i].name if i in overrides and overrides[i].name else hb.names[i])
                           for i in keep_idx})
    unnamed = [i for i in keep_idx if not hb.names[i] and not (i in overrides and overrides[i].name)]
    if unnamed:
        warnings.append(
            "第 " + "、".join(str(i + 1) for i in unnamed) + " 列没有表头，已暂时命名为「"
            + "」「".join(names[i] for i in unnamed) + "」，请在下方为它们改名。"
        )
    if hb.code_rows:
        shown = "、".join(f"{names[i]} / {hb.codes[i]}" for i in keep_idx if i in hb.codes)
        warnings.append(f"第 {hb.code_rows[0] + 1} 行是各列的英文代码（{shown}），已作为列的别名记录，不作为数据导入。")
    plans: list[ColumnPlan] = []
    out_cols: list[pl.Series] = []
    for i in keep_idx:
        cv = converted[i]
        name = names[i]
        unit = hb.units.get(i) or cv.unit_hint
        if unit is None and cv.type in _NUMERIC and hb.table_unit:
            unit = hb.table_unit
        if i in overrides and overrides[i].unit is not None:
            unit = overrides[i].unit or None
        ff = merge_filled.get(cols[i], 0) + implicit.get(cols[i], 0)
        plans.append(ColumnPlan(
            index=i, name=name, header=list(hb.raw_levels[i]) if hb.raw_levels else [],
            type=cv.type, unit=unit, flags=hb.flags.get(i, []), null_count=cv.null_count,
            failed_count=cv.failed_count, failed_samples=cv.failed_samples, forward_filled=ff,
            sample=_samples(cv.series), aliases=[hb.codes[i]] if i in hb.codes else [],
        ))
        out_cols.append(cv.series.alias(name))
        nonnull = len(cv.series) - cv.null_count + cv.failed_count
        if cv.failed_count:
            share = cv.failed_count / max(nonnull, 1)
            level = "超过 5%" if share > _WARN_FAIL_RATIO else "少量"
            warnings.append(
                f"列「{name}」有 {cv.failed_count} 个单元格（{share:.1%}，{level}）无法识别为{_TYPE_ZH[cv.type]}，"
                f"已置为空值：{'、'.join('「' + s + '」' for s in cv.failed_samples)}。"
                "请核对原表，或把该列类型改为「文本」。"
            )
        for note in cv.notes:
            warnings.append(f"列「{name}」：{note}")
        if ff:
            warnings.append(f"列「{name}」有 {ff} 个空单元格按上方的分组标签（合并单元格）补齐，请核对。")
    frame = pl.DataFrame(out_cols) if out_cols else pl.DataFrame()
    warnings += flag_suspect_values(frame, plans, data.get_column(ROW))

    # totals right under the header or at the very end are the classic silent error
    dropped = [DroppedRow(row=r, reason=reason, text=text) for r, reason, text in verdict.dropped]  # type: ignore[arg-type]
    kept_rows = data.get_column(ROW)
    for d in dropped:
        if d.reason != "total":
            continue
        first_data = kept_rows.len() == 0 or d.row < int(kept_rows.min())  # type: ignore[arg-type]
        last_data = kept_rows.len() == 0 or d.row > int(kept_rows.max())  # type: ignore[arg-type]
        if first_data or last_data:
            where = "紧接表头" if first_data else "表格末尾"
            warnings.append(f"第 {d.row} 行（{where}）是合计/小计行「{d.text}」，已排除，不计入数据。")
    if verdict.kept_totals:
        warnings.append(
            f"已按您的设置保留 {verdict.kept_totals} 行合计/小计行，汇总时会重复计算；如非必要请恢复「去除合计行」。"
        )

    runs = row_runs(data.get_column(ROW), raw.name)

    # wide tables: years/months as columns
    wide = None
    period_cols, grain = period_columns({names[i]: names[i] for i in keep_idx})
    if period_cols:
        ids = [names[i] for i in keep_idx if names[i] not in period_cols]
        wide = WideInfo(period_columns=period_cols, id_columns=ids,
                        grain=grain if grain in ("year", "month", "quarter", "day") else "other")  # type: ignore[arg-type]
        if options.unpivot:
            frame, left_out = unpivot(frame, period_cols, ids, grain, options.unpivot_name, options.unpivot_value)
            runs = []  # a long row comes from one cell of a wide row: no run of sheet rows
            warnings.append(
                f"已把 {len(period_cols)} 个期间列转为长表：「{options.unpivot_name}」「{options.unpivot_value}」两列"
                + (f"，{left_out} 个空单元格未列入。" if left_out else "。")
            )
            plans = [p for p in plans if p.name not in period_cols]
            ptype = "year" if grain == "year" else ("month" if grain in ("month", "quarter") else "date")
            vdtype = frame.schema[options.unpivot_value]
            vtype = "integer" if vdtype.is_integer() else ("number" if vdtype.is_numeric() else "text")
            src_units = {hb.units.get(i) or hb.table_unit for i in keep_idx if names[i] in period_cols}
            vunit = next(iter(src_units)) if len(src_units) == 1 else None
            plans.append(ColumnPlan(index=-1, name=options.unpivot_name, header=[options.unpivot_name], type=ptype,
                                    sample=_samples(frame.get_column(options.unpivot_name))))
            plans.append(ColumnPlan(index=-1, name=options.unpivot_value, header=[options.unpivot_value], type=vtype,
                                    unit=vunit, null_count=0,
                                    sample=_samples(frame.get_column(options.unpivot_value))))
        else:
            first, last = period_cols[0], period_cols[-1]
            warnings.append(
                f"这是一张宽表：{len(period_cols)} 个列是时间期间（{first} … {last}）。"
                f"可以选择「转为长表」，把期间变成一列「{options.unpivot_name}」、数值变成一列「{options.unpivot_value}」，"
                "便于按时间分析。"
            )

    plan = ImportPlan(
        file_name=file_name, sha256=sha256, file_kind=file_kind, sheet=raw.name, sheets=sheets,
        skipped_sheets=skipped_sheets, encoding=encoding,
        header_rows=[r + 1 + offset for r in hb.header_rows], preamble=hb.preamble, notes=verdict.notes,
        columns=plans, dropped_rows=dropped, dropped_columns=dropped_columns, warnings=warnings,
        wide=wide, row_count=frame.height, options=options, tables=tables, row_runs=runs,
    )
    return plan, frame


def row_runs(rows: pl.Series, sheet: str) -> list[RowRun]:
    """The kept rows' sheet row numbers as runs of consecutive rows (see RowRun)."""
    if rows.len() == 0:
        return []
    starts = (rows.diff().fill_null(0) != 1).arg_true()
    bounds = [*starts.to_list(), rows.len()]
    # the sheet row of each run's first row only: the whole column as Python ints took 5–10 ms
    firsts = rows.gather(starts).to_list()
    return [RowRun(at=a, row=int(r), n=b - a, sheet=sheet)
            for (a, b), r in zip(itertools.pairwise(bounds), firsts, strict=True)]


def _tables_note(tables: list[SheetTable], pick: int) -> str:
    listed = "；".join(f"第 {t.index} 张「{t.title}」（第 {t.first_row}–{t.last_row} 行）" for t in tables)
    others = "、".join(str(t.index) for t in tables if t.index != pick)
    return (f"这个工作表里有 {len(tables)} 张表：{listed}。现在导入的是第 {pick} 张；"
            f"第 {others} 张请另选后分别导入为数据集（命令行用 --sheet-table 序号）。")


__all__ = ["POLARS_TYPES", "build_plan"]
