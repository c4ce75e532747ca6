"""Calendar arithmetic for charts and KPI cards, always relative to an explicit `today`.

Why explicit: a board opened on Monday must show last week, and tests must pin the date.
Conventions (shared with the question layer's time parser): weeks run Monday–Sunday,
"最近N天" is today and the N−1 days before, quarters are calendar quarters, and every range
is a closed interval of calendar days [start, end].
"""
from __future__ import annotations

import calendar
import datetime as dt
import re

from citybi.vocabulary import GRAIN_MONTHS, RECENT_DAYS, RELATIVE_PERIOD_GRAINS

Range = tuple[dt.date, dt.date]


def add_months(d: dt.date, n: int) -> dt.date:
    """The same day n months later, clipped to the month's last day (Jan 31 + 1 → Feb 29)."""
    y, m = divmod(d.month - 1 + n, 12)
    y += d.year
    m += 1
    return dt.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def shift_year(d: dt.date, n: int = -1) -> dt.date:
    return add_months(d, 12 * n)


def period_start(d: dt.date, grain: str) -> dt.date:
    """The first day of the 日/周/月/季/年 period containing d."""
    if grain == "日":
        return d
    if grain == "周":
        return d - dt.timedelta(days=d.weekday())
    if grain == "月":
        return d.replace(day=1)
    if grain == "季":
        return dt.date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
    if grain == "年":
        return dt.date(d.year, 1, 1)
    raise ValueError(f"未知的时间粒度「{grain}」")


def period_containing(d: dt.date, grain: str) -> Range:
    start = period_start(d, grain)
    return start, next_period_start(start, grain) - dt.timedelta(days=1)


def next_period_start(start: dt.date, grain: str) -> dt.date:
    if grain == "日":
        return start + dt.timedelta(days=1)
    if grain == "周":
        return start + dt.timedelta(days=7)
    return add_months(start, GRAIN_MONTHS[grain])


def previous_period_start(start: dt.date, grain: str) -> dt.date:
    if grain == "日":
        return start - dt.timedelta(days=1)
    if grain == "周":
        return start - dt.timedelta(days=7)
    return add_months(start, -GRAIN_MONTHS[grain])


def shift_periods(start: dt.date, grain: str, n: int) -> dt.date:
    """Start of the period n periods before (n < 0) or after (n > 0) the one starting at `start`."""
    if grain == "日":
        return start + dt.timedelta(days=n)
    if grain == "周":
        return start + dt.timedelta(days=7 * n)
    return add_months(start, n * GRAIN_MONTHS[grain])


def relative_range(period: str, today: dt.date) -> Range:
    """最近N天 / 今天 / 昨天 / 本周 / 上周 / 本月 / 上月 / 本季 / 上季 / 今年 / 去年 → [start, end]."""
    m = RECENT_DAYS.match(period)
    if m:
        n = int(m.group(1))
        return today - dt.timedelta(days=n - 1), today
    if period not in RELATIVE_PERIOD_GRAINS:
        raise ValueError(f"相对时间「{period}」无法识别")
    grain, n = RELATIVE_PERIOD_GRAINS[period]
    start = shift_periods(period_start(today, grain), grain, n)
    return start, next_period_start(start, grain) - dt.timedelta(days=1)


def previous_range(cur: Range, grain: str | None) -> Range:
    """环比: the period just before `cur` with the same length.

    For a calendar grain the previous calendar period. A period-to-date compares with the
    same stretch of the previous period: the same number of days for 日/周, the same
    calendar position for 月/季/年 (1–17 May → 1–17 April; 1 Apr–17 May → 1 Jan–17 Feb;
    1–30 Mar → 1–29 Feb), so leap days and month lengths never shift the comparison. For
    an arbitrary range of n days, the n days before it.
    """
    start, end = cur
    if grain is None:
        n = (end - start).days + 1
        return start - dt.timedelta(days=n), start - dt.timedelta(days=1)
    p_start = previous_period_start(start, grain)
    p_full_end = start - dt.timedelta(days=1)
    if end >= next_period_start(start, grain) - dt.timedelta(days=1):
        return p_start, p_full_end  # a whole period compares with the whole previous period
    if grain in ("日", "周"):
        return p_start, min(p_start + (end - start), p_full_end)
    return p_start, min(add_months(end, -GRAIN_MONTHS[grain]), p_full_end)


def year_ago_range(cur: Range, grain: str | None) -> Range:
    """同比: the same period one year earlier.

    Weeks compare with the same ISO week number last year (Monday–Sunday, so weekdays line
    up); everything else shifts both ends back one calendar year (29 Feb → 28 Feb), and a
    whole month/quarter/year maps to the whole period (Feb 2024 → all of Feb 2023).
    """
    start, end = cur
    if grain == "周":
        year, week, _ = start.isocalendar()
        last_week = dt.date(year - 1, 12, 28).isocalendar()[1]
        y_start = dt.date.fromisocalendar(year - 1, min(week, last_week), 1)
        return y_start, y_start + (end - start)
    y_start, y_end = shift_year(start), shift_year(end)
    if grain in ("月", "季", "年") and end == next_period_start(start, grain) - dt.timedelta(days=1):
        y_end = next_period_start(y_start, grain) - dt.timedelta(days=1)
    return y_start, y_end


# ---------------------------------------------------------------------------- titles that name their period
# a period word a saved title starts with ("近7天清运量", "本月清运量"): replaced when the board sets the dates
_TITLE_PERIOD = re.compile(
    r"^(?:最?近\d{1,4}天|今天|昨天|本周|上周|本月|上月|本季|上季|今年|去年|本年|全年)\s*[·：:]?\s*")


def range_label(rng: Range) -> str:
    """A date range in words: 2025年6月 for a whole month, 2025年 for a year, else 2025-06-01 至 2025-06-17."""
    start, end = rng
    if start == end:
        return start.isoformat()
    if start == period_start(start, "年") and end == next_period_start(start, "年") - dt.timedelta(days=1):
        return f"{start.year}年"
    if start == period_start(start, "月") and end == next_period_start(start, "月") - dt.timedelta(days=1):
        return f"{start.year}年{start.month}月"
    return f"{start.isoformat()} 至 {end.isoformat()}"


def period_title(title: str, period: str | Range) -> str:
    """The title naming the board's period: 近7天清运量 + 上月 → 上月清运量; + a range → 清运量（2025-06-01 至 …）.

    A relative period or a whole month/year goes in front (上月清运量, 2025年6月清运量); any
    other range follows in brackets, where a long date pair reads better.
    """
    bare = _TITLE_PERIOD.sub("", title, count=1) or title
    label = period if isinstance(period, str) else range_label(period)
    if isinstance(period, str) or "至" not in label:
        return f"{label}{bare}"
    return f"{bare}（{label}）"


def coverage_note(period: Range, data: Range | None) -> str:
    """Says when a period has fewer days of data than it spans: 本周 on a Monday → 仅 1 天数据.

    `data` is the first and last day the data has. Without this, a week with one day in it
    reads as a collapse next to last week's seven.
    """
    if data is None:
        return ""
    (start, end), (first, last) = period, data
    if last < start:
        return f"这段时间还没有数据（数据截至 {last.isoformat()}）"
    if first > end:
        return f"这段时间没有数据（数据从 {first.isoformat()} 开始）"
    lo, hi = max(start, first), min(end, last)
    if (lo, hi) == (start, end):
        return ""
    days = (hi - lo).days + 1
    where = f"截至 {hi.month}月{hi.day}日" if hi < end else f"从 {lo.month}月{lo.day}日 开始"
    return f"仅 {days} 天数据（{where}）"
