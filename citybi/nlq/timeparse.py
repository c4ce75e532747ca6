"""Time expressions → date ranges relative to a reference day.

"本周", "上个月", "最近7天", "2024年第一季度", "今年1月到3月" all become one closed range
[start, end] of calendar days, following the conventions of the question benchmark
(weeks run Monday–Sunday; "最近N天" is today and the N−1 days before). Kept apart from
the rules so each expression can be tested against a fixed "today".

A time expression that names no real day (2024年2月30日, 13月, 0000年, 最近99999999999天)
raises TimeOutOfRange with a Chinese message instead of being skipped: skipping it used to
leave "2月" behind and answer for the whole of February.
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from .text import OutOfRange, shorten, to_int

CNN = r"(?:\d{1,2}|[一二两三四五六七八九十]{1,3})"
# (?<!\d): the year of "12024年" is not 2024
YEAR = r"(?P<y>(?<!\d)\d{4}年?|今年|去年|前年|明年|本年|上一年|上年)"


class TimeOutOfRange(OutOfRange):
    """A time expression that names no real day."""


def bad_time(text: str) -> TimeOutOfRange:
    return TimeOutOfRange(f"时间「{shorten(text)}」不是有效的日期，或超出了能计算的范围（公元1年至9999年）。"
                          "请检查年、月、日后再问。")


@dataclass(frozen=True)
class TimeHit:
    start_pos: int
    end_pos: int
    start: dt.date
    end: dt.date
    text: str
    explicit_year: bool = False


def month_range(y: int, m: int) -> tuple[dt.date, dt.date]:
    return dt.date(y, m, 1), dt.date(y, m, calendar.monthrange(y, m)[1])


def add_months(d: dt.date, n: int) -> dt.date:
    y, m = divmod(d.month - 1 + n, 12)
    y += d.year
    m += 1
    return dt.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def _year(token: str | None, today: dt.date, default: int) -> int:
    if not token:
        return default
    if token[:4].isdigit():
        return int(token[:4])
    return {"今年": today.year, "本年": today.year, "去年": today.year - 1, "上一年": today.year - 1,
            "上年": today.year - 1, "前年": today.year - 2, "明年": today.year + 1}[token]


def _qnum(token: str) -> int:
    return {"一": 1, "二": 2, "三": 3, "四": 4}.get(token) or int(token)


def _atoms(q: str, today: dt.date) -> list[TimeHit]:
    """Every time atom in q, longest patterns first; later patterns skip taken characters."""
    taken = [False] * len(q)
    hits: list[TimeHit] = []
    week0 = today - dt.timedelta(days=today.weekday())
    default_year = today.year

    def add(m: re.Match[str], start: dt.date, end: dt.date, explicit: bool = False) -> None:
        if any(taken[m.start():m.end()]):
            return
        for i in range(m.start(), m.end()):
            taken[i] = True
        hits.append(TimeHit(m.start(), m.end(), start, end, m.group(0), explicit))

    def scan(pattern: str, fn) -> None:
        for m in re.finditer(pattern, q):
            if not any(taken[m.start():m.end()]):
                try:
                    r = fn(m)
                except (ValueError, OverflowError) as err:  # no such day, or past year 1 / 9999
                    raise bad_time(m.group(0)) from err
                if r:
                    add(m, *r)

    def impossible(m: re.Match[str]):
        raise ValueError(m.group(0))
    scan(r"(?<!\d)\d{5,}年", impossible)

    # ISO / slash dates
    def iso(m: re.Match[str]):
        d = dt.date(int(m[1]), int(m[2]), int(m[3]))
        return d, d, True
    scan(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)", iso)

    def ymd(m: re.Match[str]):
        y = _year(m["y"], today, default_year)
        mo, d = to_int(m["m"]), to_int(m["d"])
        day = dt.date(y, mo or 0, d or 0)
        return day, day, bool(m["y"])
    scan(YEAR + r"?(?P<m>" + CNN + r")月(?P<d>" + CNN + r")[日号]", ymd)

    def quarter(m: re.Match[str]):
        y = _year(m["y"], today, default_year)
        n = _qnum(m["q"])
        if not 1 <= n <= 4:
            return None
        s = dt.date(y, 3 * n - 2, 1)
        return s, month_range(y, 3 * n)[1], bool(m["y"])
    scan(YEAR + r"?的?(?:第?(?P<q>[1-4一二三四])季度|Q(?P<q2>[1-4]))",
         lambda m: quarter(m) if m["q"] else None)
    scan(YEAR + r"?的?Q(?P<q>[1-4])", quarter)

    def half(m: re.Match[str]):
        y = _year(m["y"], today, default_year)
        return (dt.date(y, 1, 1), dt.date(y, 6, 30), bool(m["y"])) if m["h"] == "上" else \
            (dt.date(y, 7, 1), dt.date(y, 12, 31), bool(m["y"]))
    scan(YEAR + r"?的?(?P<h>[上下])半年", half)

    def month_span(m: re.Match[str]):  # 1到5月 / 1-5月份: months a..b of one year
        y = _year(m["y"], today, default_year)
        a, b = to_int(m["a"]), to_int(m["b"])
        if a is None or b is None or not 1 <= a <= b <= 12:
            raise ValueError(m.group(0))
        return month_range(y, a)[0], month_range(y, b)[1], bool(m["y"])
    scan(YEAR + r"?的?(?P<a>" + CNN + r")(?:到|至|-|~|～)(?P<b>" + CNN + r")月份?(?![日号])", month_span)

    def month(m: re.Match[str]):
        y = _year(m["y"], today, default_year)
        mo = to_int(m["m"])
        if mo is None or not 1 <= mo <= 12:
            before = q[m.start() - 1:m.start()]
            if m["y"] or not (before.isdigit() or before in ("近", "去", "前")):  # 近13月 is a span
                raise ValueError(m.group(0))
            return None
        return (*month_range(y, mo), bool(m["y"]))
    scan(YEAR + r"?的?(?P<m>" + CNN + r")月份?(?![日号])", month)

    # relative spans: 最近7天, 近三十天, 过去两周, 近3个月, 最近一年
    def recent(m: re.Match[str]):
        n = to_int(m["n"]) if m["n"] else 1
        if not n:
            return None
        unit = m["u"]
        if unit in ("天", "日"):
            return today - dt.timedelta(days=n - 1), today
        if unit in ("周", "个星期", "星期", "个礼拜"):
            return today - dt.timedelta(days=7 * n - 1), today
        if unit in ("个月", "月"):
            return add_months(today, -n) + dt.timedelta(days=1), today
        return dt.date(today.year - n, today.month, today.day) + dt.timedelta(days=1), today
    scan(r"(?:最近|近|过去|前)(?P<n>\d+|[一二两三四五六七八九十百]+)?(?P<u>天|日|周|个星期|星期|个礼拜|个月|年)",
         lambda m: recent(m) if (m["n"] or not m.group(0).startswith("前")) else None)

    def last_quarter() -> tuple[dt.date, dt.date]:
        lq = add_months(dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), -3)
        return lq, month_range(add_months(lq, 2).year, add_months(lq, 2).month)[1]

    # computed only when matched: near year 1 or 9999 "下个月" has no answer, "今天" still does
    fixed: list[tuple[str, Callable[[], tuple[dt.date, dt.date]]]] = [
        (r"今天|今日", lambda: (today, today)),
        (r"昨天|昨日", lambda: (today - dt.timedelta(days=1),) * 2),
        (r"前天", lambda: (today - dt.timedelta(days=2),) * 2),
        (r"明天|明日", lambda: (today + dt.timedelta(days=1),) * 2),
        (r"本周|这周|这一周|本星期|这个星期|这星期|本礼拜", lambda: (week0, week0 + dt.timedelta(days=6))),
        (r"上周|上一周|上个星期|上星期|上礼拜", lambda: (week0 - dt.timedelta(days=7), week0 - dt.timedelta(days=1))),
        (r"下周|下一周|下个星期", lambda: (week0 + dt.timedelta(days=7), week0 + dt.timedelta(days=13))),
        (r"本月|这个月|当月|这一个月|本月份", lambda: month_range(today.year, today.month)),
        (r"上个月|上月|上一个月|上一月",
         lambda: month_range(add_months(today, -1).year, add_months(today, -1).month)),
        (r"下个月|下月", lambda: month_range(add_months(today, 1).year, add_months(today, 1).month)),
        (r"本季度|这个季度|本季|当季", lambda: (dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1),
                                       month_range(today.year, 3 * ((today.month - 1) // 3) + 3)[1])),
        (r"上季度|上个季度|上一季度", last_quarter),
    ]
    for pattern, span in fixed:
        scan(pattern, lambda m, span=span: span())

    def whole_year(m: re.Match[str]):
        y = _year(m["y"], today, default_year)
        return dt.date(y, 1, 1), dt.date(y, 12, 31), m["y"][:4].isdigit()
    scan(r"(?P<y>(?<!\d)\d{4}年|今年|去年|前年|明年|本年|上一年)(?:度)?(?:全年)?", whole_year)
    hits.sort(key=lambda h: h.start_pos)
    return hits


def parse_time(q: str, today: dt.date) -> list[TimeHit]:
    """Time ranges in q, with 'A到B' joined into one range and 'A以来' running to today.

    A month/quarter without a year takes the year of an earlier atom in the same question
    ("今年1月到3月", "2023年3月到5月"), else the year of today."""
    atoms = _atoms(q, today)
    # a later yearless atom inherits the year of an earlier atom with a year
    fixed: list[TimeHit] = []
    year_ctx: int | None = None
    for a in atoms:
        if a.explicit_year or re.match(r"(今年|去年|前年|明年|本年|上一年|\d{4})", a.text):
            year_ctx = a.start.year
        elif year_ctx is not None and year_ctx != a.start.year and re.search(r"月|季度|半年", a.text) \
                and not re.search(r"本|上|下|这|近|最近|过去", a.text):
            try:
                a = TimeHit(a.start_pos, a.end_pos, a.start.replace(year=year_ctx),
                            a.end.replace(year=year_ctx), a.text, True)
            except ValueError:
                pass
        fixed.append(a)
    out: list[TimeHit] = []
    for a in fixed:
        if out and re.fullmatch(r"(到|至|-|~|—|～)", q[out[-1].end_pos:a.start_pos]):
            p = out.pop()
            start_pos = p.start_pos - 1 if p.start_pos > 0 and q[p.start_pos - 1] == "从" else p.start_pos
            out.append(TimeHit(start_pos, a.end_pos, p.start, a.end, q[start_pos:a.end_pos], True))
            continue
        out.append(a)
    result = []
    for h in out:
        m = re.match(r"(以来|至今|到现在|到今天)", q[h.end_pos:])
        if m:
            h = TimeHit(h.start_pos, h.end_pos + m.end(), h.start, max(today, h.start), h.text + m.group(0),
                        h.explicit_year)
        result.append(h)
    return result


GRAINS: tuple[tuple[str, str], ...] = (
    (r"每一?天|每日|逐日|按天|按日|各天|每一日|日走势|分天|每天的", "day"),
    (r"每一?个?月|按月|逐月|各月|月度|分月|每月份", "month"),
    (r"每一?周|按周|逐周|各周|每个星期|分周", "week"),
    (r"每一?个?季度|按季度|逐季|各季度|分季度", "quarter"),
    (r"每一?年|按年|逐年|各年|年度变化|历年", "year"),
)
