"""Text helpers shared by every rule: one normal form for questions, names and values.

Questions arrive with full-width digits and brackets, stray spaces and mixed case ("pm2.5",
"ＡＰＰ"); catalog names carry units in brackets (清运量（吨）). Matching only works when
both sides go through the same normaliser, so it lives here and nowhere else.
"""
from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")
_BRACKETS = re.compile(r"[(\[【（][^)\]】）]*[)\]】）]")

CN_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
            "六": 6, "七": 7, "八": 8, "九": 9}
CN_UNIT = {"十": 10, "百": 100, "千": 1000}
# a number written with digits or Chinese numerals (no 万/亿: those are multipliers)
NUM = r"(?:\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千]+)"
MULTIPLIER = {"千": 1e3, "万": 1e4, "十万": 1e5, "百万": 1e6, "千万": 1e7, "亿": 1e8}


def norm(text: str) -> str:
    """NFKC (full-width → ASCII), upper-case Latin letters, no whitespace."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text)).upper()


def core_name(name: str) -> str:
    """A column name without its unit: 清运量（吨） → 清运量, 建筑密度(%) → 建筑密度."""
    n = norm(name)
    stripped = _BRACKETS.sub("", n)
    stripped = re.sub(r"[/_\-:：]+(吨|元|万元|亿元|个|人|小时|%|㎡|M2|KM2|平方米|平方公里)$", "", stripped)
    return stripped or n


def to_number(text: str) -> float | None:
    """'12' → 12, '3.5' → 3.5, '十五' → 15, '二十' → 20, '一百二十' → 120."""
    if not text:
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    total, current = 0, 0
    for ch in text:
        if ch in CN_DIGIT:
            current = CN_DIGIT[ch]
        elif ch in CN_UNIT:
            total += (current or 1) * CN_UNIT[ch]
            current = 0
        else:
            return None
    return float(total + current)


def to_int(text: str) -> int | None:
    v = to_number(text)
    return int(v) if v is not None and v == int(v) else None


def is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"
