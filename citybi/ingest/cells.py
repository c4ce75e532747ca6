"""Shared vocabulary of the importer: what a null marker, a total label, a footer, a unit
and a period look like in Chinese department spreadsheets.

Why one module: header detection (Python over the first rows) and row/type shaping
(polars over the whole body) must agree on the same words and patterns; keeping the
regular expressions in one place is what makes "a messy copy imports to the same values
as the clean one" hold across the stages.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from citybi.usertext import strip_invisible

# Cells that mean "no value" in numeric or date columns. In text columns they stay as
# written (e.g. 首要污染物 = "—" is a real category in air-quality tables).
NULL_MARKERS: tuple[str, ...] = (
    "—", "–", "-", "--", "——", "/", "无", "…", "……", "*", "#N/A", "#DIV/0!", "N/A", "n/a",
    "NA", "#VALUE!", "#REF!", "null", "NULL", "None", "nan", "NaN", "－", "／", "—-", "-—",
)

# Full-width digits and signs, as typed with a Chinese IME.
FULLWIDTH_FROM: tuple[str, ...] = (
    *(chr(0xFF10 + i) for i in range(10)), "，", "．", "－", "＋", "％", "：", "／", "（", "）", "Ｅ", "ｅ",
)
FULLWIDTH_TO: tuple[str, ...] = (*(str(i) for i in range(10)), ",", ".", "-", "+", "%", ":", "/", "(", ")", "E", "e")
_FW_TABLE = str.maketrans(dict(zip(FULLWIDTH_FROM, FULLWIDTH_TO, strict=True)))

_CJK = r"\u3400-\u9fff\uf900-\ufaff"
_WS_RE = re.compile(r"[\s\u00a0\u3000\u2000-\u200b\ufeff]+")
_CJK_GAP_RE = re.compile(rf"(?<=[{_CJK}（）()、/])\s+(?=[{_CJK}（）()、/])")

# A total/subtotal label: exactly one of the words, or "<group>小计/合计/总计" (南湖区小计).
TOTAL_RE = r"^(?:总合计|合计|小计|总计|共计|全市|全省|全国|全区|全县|[^\d,，。；;：:]{1,14}(?:小计|合计|总计|共计))$"
_TOTAL_RE = re.compile(TOTAL_RE)

# Footer lines at the bottom of a sheet. 注/说明/备注 need punctuation or a number after
# them, so data such as "注册用户" is not mistaken for a footnote.
FOOTER_RE = re.compile(
    r"^(?:(?:注|说明|备注|附注)\s*[：:①-⑩\d.、．(（]|注\s*$"
    r"|数据来源|资料来源|来源[：:]|填报单位|填报人|填表人|审核人|审核[：:]|制表|负责人|填报日期|"
    r"统计负责人|单位负责人|联系电话|联系人[：:]|报送日期)"
)

# Preamble lines above the header: "数据库：…", "指标：…", "单位：吨", "填报单位：…".
KV_RE = re.compile(r"^[^\s：:]{1,8}\s*[：:]")
UNIT_CELL_RE = re.compile(r"^(?:计量)?单位\s*[：:]\s*(.{1,12})$")
BRACKET_UNIT_RE = re.compile(r"^[（(]\s*([^（）()]{1,12})\s*[)）]$")
_TRAILING_UNIT_RE = re.compile(r"[（(]\s*([^（）()]{1,12})\s*[)）]$")
_FOOTNOTE_RE = re.compile(rf"^(.*?[{_CJK}）)\]A-Za-z0-9%])\s*(\*{{1,3}}|※|[①-⑩]|(?<=[{_CJK}）)])[a-z])$")
_INDICATOR_RE = re.compile(r"^指标\s*[：:]\s*(.+)$")
# Words that show a "unit" cell is really a pointer ("单位：见表头"), not a unit.
_NOT_A_UNIT = re.compile(r"见|表头|详|下同|如下|列示")

# Period labels used as column headers (wide tables) and, for years and months, as values.
_YEAR_RE = re.compile(r"^(\d{4})(?:年度?|\.0+)?$")
_MONTH_RE = re.compile(r"^(\d{4})\s*(?:年\s*(\d{1,2})\s*月份?|[-/.](\d{1,2}))$")
_QUARTER_RE = re.compile(r"^(\d{4})\s*(?:[Qq]([1-4])|年?\s*第?([一二三四1-4])\s*季度?)$")
_DAY_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_CN_Q = {"一": 1, "二": 2, "三": 3, "四": 4}


def to_halfwidth(text: str) -> str:
    """Full-width digits/signs to ASCII (only those, so CJK punctuation in names survives)."""
    return text.translate(_FW_TABLE)


def clean_label(value: Any) -> str:
    """Header/label text: no line breaks, NBSP, ideographic spaces, or spaces between CJK.

    A float that is a whole number (2005.0, how Excel stores a typed year) becomes "2005".
    Invisible characters (a stray BOM, zero-width joiners, bidi marks) are removed: in a
    header the clerk did not type them and cannot see them, and refusing the whole file for
    them would be unkind — while a name the clerk types is refused instead (usertext).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).replace("\r", "\n")
    text = strip_invisible(_WS_RE.sub(" ", text)).strip()
    text = _CJK_GAP_RE.sub("", text)
    return text


def cell_text(value: Any) -> str:
    """Any cell as display text, for notes, dropped-row descriptions and comparisons."""
    return clean_label(value)


def is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return _WS_RE.sub("", value) == ""
    return isinstance(value, float) and value != value


def is_number_value(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_NUM_TEXT_RE = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?$|^[+-]?\.\d+%?$")


def looks_numeric(value: Any) -> bool:
    """A number, or text that is a number once cleaned (1,234.00 / １２３ / 12%)."""
    if is_number_value(value):
        return True
    if isinstance(value, str):
        t = _WS_RE.sub("", to_halfwidth(value))
        return bool(_NUM_TEXT_RE.match(t))
    return False


def is_null_marker(value: Any) -> bool:
    return isinstance(value, str) and _WS_RE.sub("", value) in NULL_MARKERS


def is_total_label(value: Any) -> bool:
    return isinstance(value, str) and bool(_TOTAL_RE.match(_WS_RE.sub("", value)))


def is_footer_text(text: str) -> bool:
    return bool(FOOTER_RE.match(text.strip(" \u3000\u00a0")))


def split_footnote(label: str) -> tuple[str, str | None]:
    """'财政支出（亿元）i' → ('财政支出（亿元）', 'i'); '人口*' → ('人口', '*')."""
    m = _FOOTNOTE_RE.match(label)
    if m and m.group(1).strip():
        return m.group(1).rstrip(), m.group(2)
    return label, None


def valid_unit(unit: str) -> bool:
    unit = unit.strip()
    if not unit or len(unit) > 10 or _NOT_A_UNIT.search(unit):
        return False
    # "(2024)" or "(1)" are years/ordinals, not units; "(不含农户)" is a qualifier.
    return not re.fullmatch(r"[\d.]+", unit) and not unit.startswith(("不含", "含", "其中", "按", "以"))


def unit_of_label(label: str) -> str | None:
    """The unit in a trailing bracket: '清运量（吨）' → '吨', 'x(%)' → '%'."""
    base, _ = split_footnote(label)
    m = _TRAILING_UNIT_RE.search(base)
    if m and valid_unit(m.group(1)):
        return m.group(1).strip()
    return None


def unit_of_cell(text: str) -> str | None:
    """'单位：万元' or '（吨）' as a whole cell → the unit."""
    t = text.strip()
    m = UNIT_CELL_RE.match(t) or BRACKET_UNIT_RE.match(t)
    if m and valid_unit(m.group(1)):
        return m.group(1).strip()
    return None


# "浓度单位：微克/立方米", "CO单位：毫克/立方米": a unit line that names the columns it is for.
_SCOPED_UNIT_RE = re.compile(
    r"(?:^|(?<=[；;，,\s]))([^；;，,\s：:]{1,8}?)(?:计量)?单位\s*[：:]\s*([^；;，,\s]{1,12})"
)
# 填报单位：市环卫处 names who filled in the form, not a unit
_NOT_A_SCOPE = re.compile(r"填报|报送|制表|填表|统计|主管|管理|责任|归口|实施|牵头|工作|所在|承办|申报|建设|使用")
_INSTITUTION = re.compile(r"[局处委办厅院所站队部会司]|中心|公司|街道|社区|政府")


def scoped_units(text: str) -> list[tuple[str, str]]:
    """(scope, unit) pairs of a unit line naming its columns; [] when the text is not one."""
    out = []
    for m in _SCOPED_UNIT_RE.finditer(text.strip()):
        scope, unit = m.group(1), m.group(2).strip()
        if _NOT_A_SCOPE.search(scope) or _INSTITUTION.search(unit) or not valid_unit(unit):
            continue
        out.append((scope, unit))
    return out


def unit_of_indicator(text: str) -> str | None:
    """The NBS preamble '指标：地区生产总值(亿元)' → '亿元'."""
    m = _INDICATOR_RE.match(text.strip())
    return unit_of_label(m.group(1)) if m else None


def parse_period(label: str) -> tuple[str, dt.date] | None:
    """A period label → (grain, first day). Years 1900–2100 only, so codes are not periods."""
    t = to_halfwidth(label).strip()
    m = _YEAR_RE.match(t)
    if m:
        y = int(m.group(1))
        return ("year", dt.date(y, 1, 1)) if 1900 <= y <= 2100 else None
    m = _MONTH_RE.match(t)
    if m:
        y, mo = int(m.group(1)), int(m.group(2) or m.group(3))
        return ("month", dt.date(y, mo, 1)) if 1900 <= y <= 2100 and 1 <= mo <= 12 else None
    m = _QUARTER_RE.match(t)
    if m:
        y = int(m.group(1))
        q_raw = m.group(2) or m.group(3)
        q = _CN_Q.get(q_raw) or int(q_raw)
        return ("quarter", dt.date(y, 3 * q - 2, 1)) if 1900 <= y <= 2100 else None
    m = _DAY_RE.match(t)
    if m:
        try:
            d = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
        return ("day", d) if 1900 <= d.year <= 2100 else None
    return None


def year_number(value: Any) -> bool:
    """A numeric header cell that is a year (2005.0 in an Excel header row)."""
    return is_number_value(value) and float(value).is_integer() and 1900 <= float(value) <= 2100


def shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
