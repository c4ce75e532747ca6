"""Values that are probably not what they look like, flagged for the clerk and never guessed.

Why not fix them: a float 3.1 under 日期 is March 1st or March 10th (Excel dropped the zero)
and the year is nowhere; a sensor row of all zeros is a station that sent nothing, or a
clean-air hour. Only the clerk knows, so the plan says what it saw, where, and how to fix the
sheet — the values are imported exactly as written.
"""
from __future__ import annotations

import re

import polars as pl

from citybi.ingest.model import ColumnPlan

_DATE_HEADER = re.compile(r"日期|时间|月日|date|day", re.I)
# columns that are counters or codes, not measurements: a zero there says nothing about a sensor
_NOT_A_MEASURE = re.compile(r"序号|编号|代码|编码|排名|名次|年份|年度|^id$|^no\.?$", re.I)
_SHOWN = 5


def flag_suspect_values(frame: pl.DataFrame, columns: list[ColumnPlan], rows: pl.Series) -> list[str]:
    """Chinese warnings for M.DD float dates and all-zero measurement rows (see module docstring).

    `rows` are the 1-based sheet row numbers of the frame's rows.
    """
    return [*_month_day_floats(frame, columns), *_zero_rows(frame, columns, rows)]


def _month_day_floats(frame: pl.DataFrame, columns: list[ColumnPlan]) -> list[str]:
    out = []
    for c in columns:
        if c.type != "number" or not _DATE_HEADER.search(c.name) or c.name not in frame.columns:
            continue
        s = frame.get_column(c.name).drop_nulls()
        if s.len() == 0:
            continue
        month = s.floor()
        hundredths = ((s - month) * 100).round(6)
        whole = hundredths == hundredths.round(0)
        mdd = (month >= 1) & (month <= 12) & whole & (hundredths >= 1) & (hundredths <= 31)
        if not bool(mdd.all()):
            continue
        # one decimal: 3.1 was typed 3.10 or 3.1 — the float cannot tell
        short = s.filter(hundredths % 10 == 0).unique().sort().to_list()
        ambiguous = ""
        if short:
            v = short[0]
            m, d = int(v), round((v - int(v)) * 100)
            ambiguous = (f"，而且 {v:g} 可能是 {m} 月 {d // 10} 日也可能是 {m} 月 {d} 日"
                         "（写成小数后末尾的 0 丢了）")
        out.append(
            f"列「{c.name}」的值（{'、'.join(f'{v:g}' for v in s.unique(maintain_order=True).head(3).to_list())}…）"
            "像「月.日」写法的日期，但没有年份"
            + ambiguous
            + "；已按数值原样导入，没有猜测日期。请在原表中改成完整日期（如 2024-03-01）后重新导入。"
        )
    return out


def _zero_rows(frame: pl.DataFrame, columns: list[ColumnPlan], rows: pl.Series) -> list[str]:
    measures = [c.name for c in columns if c.type in ("integer", "number") and c.name in frame.columns
                and not _NOT_A_MEASURE.search(c.name) and not _DATE_HEADER.search(c.name)]
    if len(measures) < 2 or frame.height < 3:
        return []
    zero = frame.select(pl.all_horizontal([(pl.col(m) == 0).fill_null(False) for m in measures]).alias("z"))
    mask = zero.get_column("z")
    n = int(mask.sum())
    if n == 0 or n > frame.height / 2:  # mostly zeros is the data itself (counts of rare events)
        return []
    labels = [c.name for c in columns if c.type == "text" and c.name in frame.columns][:2]
    hit_rows = rows.filter(mask).head(_SHOWN).to_list()
    examples = ["".join(str(v) for v in r if v is not None) for r in frame.filter(mask).select(labels).head(3).rows()] \
        if labels else []
    where = "、".join(str(r) for r in hit_rows) + ("…" if n > _SHOWN else "")
    return [
        f"有 {n} 行的全部测量值（{'、'.join(measures)}）都是 0（第 {where} 行"
        + (f"，例如「{'」「'.join(examples)}」" if examples else "")
        + "），可能是缺测（设备没有数据），而不是真实的 0；已按 0 原样导入。"
        "如确为缺测，请在原表中把这些值留空后重新导入，以免拉低平均值。"
    ]
