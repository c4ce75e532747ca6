"""Type inference from EVERY cell of a column, with counted, shown failures.

Why our own: polars/pandas infer from the first rows and silently null later cells (261
text dates lost in one real file). Here each column is judged on all its non-null cells
with vectorised polars string expressions: numbers typed as text (1,234.00, full-width
digits, 12%), Chinese dates, US/European slash dates, month and year labels, Excel serials.
A column converts when at most FAIL_RATIO of its non-null cells fail; the failing cells
become NULL and are counted and sampled so the clerk sees them — never a silent loss.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from citybi.ingest.cells import FULLWIDTH_FROM, FULLWIDTH_TO, NULL_MARKERS

# Decision (documented for the clerk-facing warning): a column takes a type when at most 2%
# of its non-null cells fail to convert; with fewer than 50 values that means none may fail.
FAIL_RATIO = 0.02
_SAMPLES = 5
_WS = " \t\r\n\u00a0\u3000\u2002\u2003\u2009\u200b\ufeff"
_WS_CLASS = r"[\s\u00a0\u3000\u2002\u2003\u2009\u200b\ufeff]"

_NUM_RE = r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?$|^[+-]?\.\d+%?$|^[+-]?\d+(?:\.\d+)?[eE][+-]?\d+$"
_CODE_RE = r"^0\d+$|^\d{16,}$"
_YMD_RE = (
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]+(\d{1,2})\s*[:时]\s*(\d{1,2})(?:\s*[:分]\s*(\d{1,2})(?:\.\d+)?\s*秒?)?)?\s*$"
)
_XYY_RE = r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[\sT]+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?$"
_MONTH_RE = r"^(\d{4})\s*(?:年\s*(\d{1,2})\s*月份?|[-/](\d{1,2}))$"
_YEAR_RE = r"^(\d{4})\s*年度?$"
_TRUE = ("是", "true", "TRUE", "True", "√", "Y", "y", "yes", "Yes")
_FALSE = ("否", "false", "FALSE", "False", "×", "N", "n", "no", "No")
_DATEISH_HEADER = re.compile(r"日期|时间|年月|date|time|day", re.I)
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)

POLARS_TYPES: dict[str, pl.DataType] = {
    "text": pl.String(),
    "integer": pl.Int64(),
    "number": pl.Float64(),
    "date": pl.Date(),
    "month": pl.Date(),
    "timestamp": pl.Datetime("us"),
    "year": pl.Int32(),
    "boolean": pl.Boolean(),
}


@dataclass
class Converted:
    series: pl.Series
    type: str
    null_count: int = 0
    failed_count: int = 0
    failed_samples: list[str] = field(default_factory=list)
    unit_hint: str | None = None  # "%" when the cells carried a percent sign
    notes: list[str] = field(default_factory=list)  # Chinese remarks for plan.warnings
    nonnull: pl.Series | None = None  # cells that held a value (after null markers)


def _clean_exprs() -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(stripped text or null, compact text for numbers, text for dates), markers nulled."""
    stripped = pl.col("v").str.strip_chars(_WS)
    stripped = pl.when(stripped == "").then(None).otherwise(stripped)
    marker = pl.col("v").str.replace_all(_WS_CLASS, "").is_in(list(NULL_MARKERS))
    value = pl.when(marker).then(None).otherwise(stripped)
    half = value.str.replace_many(list(FULLWIDTH_FROM), list(FULLWIDTH_TO))
    compact = half.str.replace_all(_WS_CLASS, "")
    spaced = half.str.replace_all(_WS_CLASS + "+", " ")
    return value, compact, spaced


def _date_exprs(spaced: pl.Expr, day_first: bool) -> tuple[pl.Expr, pl.Expr]:
    """(parsed Datetime from Y-M-D forms, parsed Datetime from D/M/Y or M/D/Y forms)."""
    g = spaced.str.extract_groups(_YMD_RE)
    ymd = pl.format(
        "{}-{}-{} {}:{}:{}",
        g.struct.field("1"), g.struct.field("2"), g.struct.field("3"),
        g.struct.field("4").fill_null("0"), g.struct.field("5").fill_null("0"), g.struct.field("6").fill_null("0"),
    ).str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)
    x = spaced.str.extract_groups(_XYY_RE)
    day, month = (x.struct.field("1"), x.struct.field("2")) if day_first else (x.struct.field("2"), x.struct.field("1"))
    xyy = pl.format(
        "{}-{}-{} {}:{}:{}",
        x.struct.field("3"), month, day,
        x.struct.field("4").fill_null("0"), x.struct.field("5").fill_null("0"), x.struct.field("6").fill_null("0"),
    ).str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)
    return ymd, xyy


def _serial_expr(num: pl.Expr) -> pl.Expr:
    """Excel day serials (43831 → 2020-01-01) and yyyymmdd integers (20240301)."""
    as_ymd = num.cast(pl.Int64, strict=False).cast(pl.String).str.strptime(pl.Datetime("us"), "%Y%m%d", strict=False)
    serial = pl.lit(_EXCEL_EPOCH) + (num * 86_400_000).round(0).cast(pl.Int64, strict=False).cast(pl.Duration("ms"))
    return (
        pl.when((num >= 19000101) & (num <= 21001231)).then(as_ymd)
        .when((num >= 1) & (num < 2958466)).then(serial)
        .otherwise(None)
    )


def _samples(frame: pl.DataFrame, failed: pl.Series) -> list[str]:
    vals = frame.get_column("v").filter(failed).cast(pl.String).drop_nulls().unique(maintain_order=True)
    return [str(v)[:60] for v in vals.head(_SAMPLES).to_list()]


def _result(
    frame: pl.DataFrame, value_nonnull: pl.Series, out: pl.Series, typ: str, **kw: object
) -> Converted:
    failed = value_nonnull & out.is_null()
    n_failed = int(failed.sum())
    return Converted(
        series=out.cast(POLARS_TYPES[typ]),
        type=typ,
        null_count=int(out.is_null().sum()),
        failed_count=n_failed,
        failed_samples=_samples(frame, failed) if n_failed else [],
        **kw,  # type: ignore[arg-type]
    )


def _finish_temporal(frame: pl.DataFrame, nonnull: pl.Series, parsed: pl.Series, forced: str | None) -> Converted:
    if forced in ("date", "month"):
        out = parsed.dt.date()
        if forced == "month":
            out = out.dt.truncate("1mo")
        return _result(frame, nonnull, out, forced)
    if forced == "timestamp":
        return _result(frame, nonnull, parsed, "timestamp")
    ok = parsed.drop_nulls()
    midnight = ok.len() == 0 or bool((ok.dt.time() == dt.time(0)).all())
    if midnight:
        return _result(frame, nonnull, parsed.dt.date(), "date")
    return _result(frame, nonnull, parsed, "timestamp")


def _integral(values: pl.Series) -> bool:
    ok = values.drop_nulls().drop_nans()
    if ok.len() == 0:
        return True
    return bool((ok == ok.floor()).all()) and float(ok.abs().max()) < 2**53  # type: ignore[arg-type]


def _numeric_native(s: pl.Series, header: str, forced: str | None) -> Converted:
    vals = s.cast(pl.Float64)
    if vals.dtype == pl.Float64:
        vals = vals.fill_nan(None)
    frame = pl.DataFrame({"v": s})
    nonnull = vals.is_not_null()
    if forced in ("date", "month", "timestamp") or (
        forced is None and _DATEISH_HEADER.search(header) and _all_serials(vals)
    ):
        parsed = pl.DataFrame({"n": vals}).select(_serial_expr(pl.col("n")).alias("d")).get_column("d")
        return _finish_temporal(frame, nonnull, parsed, forced)
    if forced == "text":
        return _result(frame, nonnull, s.cast(pl.String), "text")
    if forced == "year":
        out = vals.round(0).cast(pl.Int32, strict=False)
        return _result(frame, nonnull, out, "year")
    if forced == "boolean":
        return _result(frame, nonnull, (vals != 0), "boolean")
    if forced == "number" or (forced is None and not _integral(vals)):
        return _result(frame, nonnull, vals, "number")
    if forced == "integer" and not _integral(vals):
        out = vals.set(vals != vals.floor(), None)  # type: ignore[arg-type]
        return _result(frame, nonnull, out.cast(pl.Int64, strict=False), "integer")
    return _result(frame, nonnull, vals.cast(pl.Int64, strict=False), "integer")


def _all_serials(vals: pl.Series) -> bool:
    ok = vals.drop_nulls()
    if ok.len() == 0:
        return False
    in_serial = (ok >= 20000) & (ok < 80000)
    in_ymd = (ok >= 19000101) & (ok <= 21001231) & (ok == ok.floor())
    return bool((in_serial | in_ymd).all())


def convert(s: pl.Series, header: str = "", forced: str | None = None) -> Converted:
    """Infer (or apply the user's) type for one column and convert it."""
    dtype = s.dtype
    if dtype == pl.Null:
        typ = forced or "text"
        return Converted(series=pl.Series(s.name, [None] * len(s), dtype=POLARS_TYPES[typ]), type=typ,
                         null_count=len(s))
    if dtype.is_numeric():
        return _numeric_native(s, header, forced)
    if dtype == pl.Boolean:
        frame = pl.DataFrame({"v": s})
        if forced in (None, "boolean"):
            return _result(frame, s.is_not_null(), s, "boolean")
        return convert(s.cast(pl.String), header, forced)
    if dtype in (pl.Date, pl.Datetime) or isinstance(dtype, pl.Datetime):
        frame = pl.DataFrame({"v": s})
        if forced in (None, "date", "month", "timestamp"):
            return _finish_temporal(frame, s.is_not_null(), s.cast(pl.Datetime("us")), forced)
        if forced == "year":
            return _result(frame, s.is_not_null(), s.dt.year().cast(pl.Int32), "year")
        return convert(s.cast(pl.String), header, forced)
    if dtype != pl.String:
        s = s.cast(pl.String)
    return _convert_text(s, header, forced)


def _convert_text(s: pl.Series, header: str, forced: str | None) -> Converted:
    """Text cells → typed values. Low-cardinality columns are judged on their distinct
    values (weighted by frequency) and mapped back: 200,000 dates with 500 distinct days
    parse 500 strings, not 200,000."""
    n_all = s.len()
    if n_all > 2000:
        # only chooses the path, and both give the same result: an estimate (HyperLogLog) will do,
        # at a quarter of the cost of counting 200,000 strings exactly
        k = s.approx_n_unique()
        if k <= n_all // 4:
            vc = s.value_counts()
            uniq, weights = vc.get_column(s.name), vc.get_column("count")
            cu = _convert_unique(uniq, weights, header, forced)
            kept = _kept_text(s, uniq, weights, cu)
            if kept is not None:
                return kept
            mapping = pl.DataFrame({"k": uniq, "out": cu.series, "nn": cu.nonnull})
            full = pl.DataFrame({"k": s}).join(mapping, on="k", how="left", maintain_order="left", nulls_equal=True)
            out, nn = full.get_column("out"), full.get_column("nn").fill_null(False)
            return Converted(
                series=out.alias(s.name), type=cu.type, null_count=int(out.is_null().sum()),
                failed_count=int((nn & out.is_null()).sum()), failed_samples=cu.failed_samples,
                unit_hint=cu.unit_hint, notes=cu.notes,
            )
    return _convert_unique(s, None, header, forced)


def _kept_text(s: pl.Series, uniq: pl.Series, weights: pl.Series, cu: Converted) -> Converted | None:
    """A text column whose distinct values stay as they are (blanks and null markers emptied), else None.

    Then no value needs mapping back: the column is itself, the emptied values set to null, and the
    counts come from the distinct values' weights — instead of a join over every row (most text
    columns of a department file: 区, 街道, 状态…; ~4 ms each for 200,000 rows)."""
    if cu.series.dtype != pl.String or cu.nonnull is None:
        return None
    out_null = cu.series.is_null()
    if not bool((out_null | (cu.series == uniq).fill_null(False)).all()):
        return None
    gone = uniq.filter(out_null & uniq.is_not_null())
    out = s if gone.is_empty() else s.to_frame("v").select(
        pl.when(pl.col("v").is_in(gone.implode())).then(None).otherwise(pl.col("v"))).to_series()
    return Converted(
        series=out.alias(s.name), type=cu.type, null_count=int(weights.filter(out_null).sum()),
        failed_count=int(weights.filter(out_null & cu.nonnull.fill_null(False)).sum()),
        failed_samples=cu.failed_samples, unit_hint=cu.unit_hint, notes=cu.notes,
    )


def _quick_verdict(
    frame: pl.DataFrame, w: pl.Series | None, cnt: Callable[[pl.Series], int], header: str
) -> Converted | None:
    """Cheap passes that settle most columns: plain ASCII numbers, or clearly words."""
    # stripped once and kept: the checks below (and the ISO pass) would each strip 200,000 cells again
    frame = frame.with_columns(pl.col("v").str.strip_chars(_WS).alias("s"))
    st = pl.col("s")
    pre = frame.select(
        (st != "").fill_null(False).alias("ne"),
        st.str.contains(r"^[\d０-９+\-.]").fill_null(False).alias("lead"),
    )
    ne = pre.get_column("ne")
    n_ne = cnt(ne)
    if n_ne == 0:
        return None
    # Only the checks the column's cells can still pass are run (each is a pass over every cell): a
    # plain number and an ISO date both start with a digit, sign or point ("lead"), so a column where
    # some cell does not is never all numbers or all dates; and one where every cell does is no text.
    if cnt(pre.get_column("lead")) == n_ne:
        if not _DATEISH_HEADER.search(header):
            num = frame.select(
                st.str.contains(r"^[+-]?(?:\d+(?:\.\d+)?|\.\d+)$").fill_null(False).alias("plain"),
                st.str.contains(r"^0\d|^[+-]?\d{16,}").fill_null(False).alias("lz"),
            )
            if cnt(num.get_column("plain")) == n_ne and not num.get_column("lz").any():
                vals = frame.select(pl.when(ne).then(st).cast(pl.Float64, strict=False).alias("n")).get_column("n")
                out = vals.cast(pl.Int64, strict=False) if _integral(vals) else vals
                typ = "integer" if out.dtype == pl.Int64 else "number"
                return Converted(series=out, type=typ, null_count=cnt(out.is_null()), nonnull=ne)
        return _quick_iso_datetimes(frame, st, ne, cnt, n_ne)
    words = frame.select(
        st.is_in(list(NULL_MARKERS)).fill_null(False).alias("mk"),
        st.is_in(list(_TRUE + _FALSE)).fill_null(False).alias("bl"),
    )
    n_mk = cnt(words.get_column("mk"))
    # mostly words (ids, names): text; mixed columns go the full way so the clerk is told
    if cnt(pre.get_column("lead")) + n_mk < 0.5 * n_ne and cnt(words.get_column("bl")) < n_ne - n_mk:
        out = frame.select(pl.when(ne).then(pl.col("v")).otherwise(None).alias("t")).get_column("t")
        return Converted(series=out, type="text", null_count=cnt(out.is_null()), nonnull=ne)
    return None


_ISO_DT = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$"
_ZONE = r"\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)$"  # after a time: 2024-03-01 is no zone


def _quick_iso_datetimes(
    frame: pl.DataFrame, st: pl.Expr, ne: pl.Series, cnt: Callable[[pl.Series], int], n_ne: int
) -> Converted | None:
    """ISO dates/timestamps (what CSV exports, databases and APIs write) parsed by polars directly.

    The general date path tries a dozen Chinese and slash formats per cell; a column of
    200,000 distinct timestamps took 1.3 s there and 0.1 s here. Any cell that is not a valid
    ISO value (e.g. 2024-02-30) sends the column down the general path, which reports it.
    A time that carries its zone (2024-03-01T08:00:00+08:00, …Z: a sensor's or an API's) is
    written as the clock reads in the warehouse's zone, as a database's timestamptz is.
    """
    if cnt(frame.select(st.str.contains(_ISO_DT).fill_null(False)).to_series()) != n_ne:
        return None
    iso = st.str.replace("T", " ", literal=True)
    parsed = _parse_iso(frame, iso, ne, cnt)
    if parsed is not None:
        return _finish_temporal(frame, ne, parsed, None)
    # only now look for zones: the common zone-less column pays no extra pass over its cells
    zoned = frame.select(st.str.contains(_ZONE).fill_null(False)).to_series()
    return _zoned_iso(frame, iso, ne, zoned, cnt) if zoned.any() else None


def _parse_iso(frame: pl.DataFrame, iso: pl.Expr, must: pl.Series, cnt: Callable[[pl.Series], int]
               ) -> pl.Series | None:
    """The cells parsed as zone-less ISO dates/times, or None when one of the `must` cells is none."""
    parsed: pl.Series | None = None
    wanted = cnt(must)
    # the common shapes first, one at a time: a fractional-seconds format is 4x slower
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S%.f"):
        step = frame.select(iso.str.strptime(pl.Datetime("us"), fmt, strict=False).alias("d")).to_series()
        parsed = step if parsed is None else parsed.fill_null(step)
        if cnt(parsed.is_not_null() & must) == wanted:
            return parsed
    return None


def _zoned_iso(frame: pl.DataFrame, iso: pl.Expr, ne: pl.Series, zoned: pl.Series, cnt: Callable[[pl.Series], int]
               ) -> Converted | None:
    from citybi.config import warehouse_timezone

    tz = warehouse_timezone()
    # one spelling of the zone for the parser: Z → +00:00, +0800 and +08 → +08:00; seconds made explicit
    spelled = (iso.str.replace(r"Z$", "+00:00").str.replace(r"([+-]\d{2})(\d{2})$", "$1:$2")
               .str.replace(r"([+-]\d{2})$", "$1:00").str.replace(r"^(\S+ \d{2}:\d{2})([+-])", "$1:00$2"))
    instants = frame.select(spelled.str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%d %H:%M:%S%.f%:z", strict=False)
                            .dt.convert_time_zone(tz).dt.replace_time_zone(None).alias("d")).to_series()
    if cnt(instants.is_not_null() & zoned) != cnt(zoned):
        return None
    plain = zoned.not_() & ne
    parsed = instants
    if plain.any():  # cells without a zone beside them: read as the warehouse's clock, like a naive timestamp
        local = _parse_iso(frame, iso, plain, cnt)
        if local is None:
            return None
        parsed = parsed.fill_null(local)
    c = _result(frame, ne, parsed, "timestamp")
    c.notes.append(f"时间带有时区（如 +08:00、Z），已换算为 {tz} 的时间。")
    return c


def _convert_unique(s: pl.Series, weights: pl.Series | None, header: str, forced: str | None) -> Converted:
    frame = pl.DataFrame({"v": s})
    w = weights.cast(pl.Int64) if weights is not None else None

    def cnt(mask: pl.Series) -> int:
        if w is None:  # every cell counts once: no weights to gather
            return int(mask.fill_null(False).sum())
        return int(w.filter(mask.fill_null(False)).sum())

    if forced is None:
        quick = _quick_verdict(frame, w, cnt, header)
        if quick is not None:
            return quick
    value, compact, spaced = _clean_exprs()
    is_num = compact.str.contains(_NUM_RE)
    num = pl.when(is_num).then(compact.str.replace_all(r"[,+%]", "").cast(pl.Float64, strict=False))
    feats = frame.select(
        value.alias("value"),
        num.alias("num"),
        (is_num & compact.str.ends_with("%")).alias("pct"),
        compact.str.contains(_CODE_RE).fill_null(False).alias("code"),
        compact.str.contains(r"^\d").fill_null(False).alias("digit"),
        pl.col("v").str.strip_chars(_WS).is_in(list(_TRUE)).alias("t"),
        pl.col("v").str.strip_chars(_WS).is_in(list(_FALSE)).alias("f"),
    )
    nonnull = feats.get_column("value").is_not_null()
    n = cnt(nonnull)
    orig_nonnull = s.str.strip_chars(_WS).fill_null("") != ""
    allowed = math.floor(FAIL_RATIO * n)
    numv = feats.get_column("num")
    n_num = cnt(numv.is_not_null())
    has_code = bool(feats.get_column("code").any())
    pct = "%" if bool(feats.get_column("pct").any()) else None
    bools = feats.select(
        pl.when(pl.col("t")).then(True).when(pl.col("f")).then(False).otherwise(None).alias("b")
    ).get_column("b")

    def text_result(note: str | None = None) -> Converted:
        out = frame.select(pl.when(orig_nonnull).then(pl.col("v")).otherwise(None).alias("t")).get_column("t")
        c = Converted(series=out, type="text", null_count=cnt(out.is_null()), nonnull=orig_nonnull)
        if note:
            c.notes.append(note)
        return c

    def result(out: pl.Series, typ: str, unit_hint: str | None = None) -> Converted:
        failed = nonnull & out.is_null()
        return Converted(
            series=out.cast(POLARS_TYPES[typ]), type=typ, null_count=cnt(out.is_null()),
            failed_count=cnt(failed), failed_samples=_samples(frame, failed) if failed.any() else [],
            unit_hint=unit_hint, nonnull=nonnull,
        )

    def mixed_note() -> str | None:
        if n_num < 0.5 * n:
            return None
        bad = _samples(frame, nonnull & numv.is_null())
        return (f"数值与文字混杂（{n - n_num} 个单元格不是数字，例如「{bad[0] if bad else ''}」），"
                "已按文本导入；如需计算请修正原表后重新导入。")

    if forced == "text" or (forced is None and n == 0):
        return text_result()
    if forced == "boolean" or (forced is None and cnt(bools.is_not_null()) == n):
        return result(bools, "boolean")
    if forced in ("integer", "number") or (forced is None and n_num == n and not has_code):
        if _DATEISH_HEADER.search(header) and forced is None and _all_serials(numv):
            parsed = pl.DataFrame({"n": numv}).select(_serial_expr(pl.col("n")).alias("d")).get_column("d")
            c = _finish_temporal(frame, nonnull, parsed, None)
            c.nonnull = nonnull
            return c
        if forced == "integer" or (forced is None and _integral(numv)):
            out = numv if _integral(numv) else numv.set(numv != numv.floor(), None)  # type: ignore[arg-type]
            return result(out.cast(pl.Int64, strict=False), "integer", pct)
        return result(numv, "number", pct)
    if forced is None and (has_code or cnt(feats.get_column("digit")) < n - allowed):
        # codes with leading zeros, or mostly cells not starting with a digit (every date,
        # month and year form does): nothing but text can fit
        return text_result(None if has_code else mixed_note())

    sf = frame.select(spaced.alias("x"))
    xg = sf.select(pl.col("x").str.extract_groups(_XYY_RE).alias("g")).unnest("g")
    first = xg.get_column("1").cast(pl.Int32, strict=False)
    second = xg.get_column("2").cast(pl.Int32, strict=False)
    day_first = bool((first > 12).any()) and not bool((second > 12).any())
    ambiguous_order = bool(first.is_not_null().any()) and not bool((first > 12).any()) and not bool(
        (second > 12).any()
    )
    ymd_e, xyy_e = _date_exprs(pl.col("x"), day_first)
    parsed_frame = sf.select(
        pl.coalesce(ymd_e, xyy_e).alias("dt"),
        pl.col("x").str.extract_groups(_MONTH_RE).alias("m"),
        pl.col("x").str.extract(_YEAR_RE, 1).cast(pl.Int32, strict=False).alias("y"),
    )
    parsed = parsed_frame.get_column("dt")
    mg = parsed_frame.get_column("m").struct.unnest()
    months = (
        pl.DataFrame({"y": mg.get_column("1"), "m": mg.get_column("2").fill_null(mg.get_column("3"))})
        .select(pl.format("{}-{}-1", pl.col("y"), pl.col("m")).str.to_date("%Y-%m-%d", strict=False).alias("d"))
        .get_column("d")
    )
    years = parsed_frame.get_column("y")
    years = years.set((years < 1000) | (years > 2999), None)  # type: ignore[arg-type]
    counts = {
        "date": cnt(parsed.is_not_null()),
        "month": cnt(months.is_not_null()),
        "year": cnt(years.is_not_null()),
        "number": n_num,
    }
    notes: list[str] = []
    if forced is None:
        best = max(counts, key=lambda k: counts[k])
        if n - counts[best] > allowed:
            return text_result(mixed_note())
        target = best
    else:
        target = forced
    if target in ("date", "timestamp") and ambiguous_order and counts["date"] > 0:
        notes.append("日期是 月/日/年 还是 日/月/年 无法从数据判断（前两段都不超过 12），已按 月/日/年 读取，请核对。")
    if target in ("date", "timestamp"):
        c = _finish_temporal(frame, nonnull, parsed, forced)
        failed = nonnull & c.series.is_null()
        c.failed_count, c.null_count = cnt(failed), cnt(c.series.is_null())
        c.nonnull = nonnull
    elif target == "month":
        c = result(months.fill_null(parsed.dt.date().dt.truncate("1mo")), "month")
    elif target == "year":
        c = result(years.fill_null(numv.cast(pl.Int32, strict=False)), "year")
    elif target == "integer":
        c = result(numv.cast(pl.Int64, strict=False), "integer", pct)
    else:
        c = result(numv, "number", pct)
    c.notes.extend(notes)
    return c
