"""Text helpers shared by every rule: one normal form for questions, names and values.

Questions arrive with full-width digits and brackets, stray spaces and mixed case ("pm2.5",
"ＡＰＰ"); catalog names carry units in brackets (清运量（吨）). Matching only works when
both sides go through the same normaliser, so it lives here and nowhere else.
"""
from __future__ import annotations

import math
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
# beyond this a float no longer holds every integer exactly; no city figure comes near it
MAX_NUMBER = 1e15


class OutOfRange(ValueError):
    """A number or date in a question that cannot be meant (1e309, 2月30日): `message` says so in Chinese."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def shorten(text: str, n: int = 24) -> str:
    return text if len(text) <= n else text[:n] + "…"


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
    """'12' → 12, '3.5' → 3.5, '2E3' → 2000, '十五' → 15, '一百零五' → 105, '三百五' → 350,
    '九九九' → 999. None if it is not a number; OutOfRange if it is one no data can hold."""
    if not text:
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", text):
        value = float(text)
    else:
        found = _chinese_number(text)
        if found is None:
            return None
        value = float(found)
    if not math.isfinite(value) or abs(value) > MAX_NUMBER:
        raise OutOfRange(f"数字「{shorten(text)}」太大，超出了能比较的范围（不超过 10 的 15 次方）。请检查数字后再问。")
    return value


def _chinese_number(text: str) -> int | None:
    """Chinese numerals; a malformed one (二三百, 十百) is not a number rather than a guess."""
    if not any(ch in CN_UNIT for ch in text):
        # no 十/百/千: read digit by digit, as in 九九九 or 二〇二四
        if all(ch in CN_DIGIT for ch in text):
            return int("".join(str(CN_DIGIT[ch]) for ch in text))
        return None
    total, pending, last_unit, zero = 0, None, 0, False
    for ch in text:
        if ch in CN_DIGIT:
            digit = CN_DIGIT[ch]
            if digit == 0:
                zero = True
                continue
            if pending is not None:
                return None
            pending = digit
        elif ch in CN_UNIT:
            unit = CN_UNIT[ch]
            if last_unit and unit >= last_unit:
                return None
            total += (1 if pending is None else pending) * unit
            pending, last_unit, zero = None, unit, False
        else:
            return None
    if pending is not None:
        # 三百五 is 350 and 一千二 is 1200 in speech; 一百零五 (with 零) and 二十五 are plain
        total += pending * last_unit // 10 if last_unit >= 100 and not zero else pending
    return total


def to_int(text: str) -> int | None:
    v = to_number(text)
    return int(v) if v is not None and v == int(v) else None


def is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"
