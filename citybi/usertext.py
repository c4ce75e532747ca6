"""User text made safe to show and to use as a name: Markdown escaping, invisible characters.

Why a module of its own, in the core: every Streamlit text element (st.markdown, st.caption,
st.error, titles, tab/expander/metric labels, widget labels and help) renders its string as
Markdown, and much of what the app shows is typed by someone else — dataset descriptions,
file names, board and chart titles, column names, 问数 questions, error messages quoting
them. `![x](http://host/a.png)` in a description made every viewer's browser fetch that
URL. `md()` is the one way user text enters such a string; it is plain Python so it is
tested without Streamlit, and the pages only ever call it.

Names are the other half: "环卫\u200b清运" looks exactly like "环卫清运" but is another
dataset. `invisible_characters()` finds what a reader cannot see; the catalog refuses such
names, the importer removes them from headers it reads (`strip_invisible`).
"""
from __future__ import annotations

import re
import string
import unicodedata

from citybi.errors import UserFacingError

# What Streamlit's Markdown renderer (react-markdown + GFM, math, directives, Streamlit's own
# plugins, read in streamlit/static) would turn into something other than the typed text:
#   links/images [x](u) ![x](u) <http://u>, raw HTML <a …>, emphasis * _ ~, code `, headings #,
#   lists - + 1. 1), quotes >, tables |, setext/rules = -, math $…$, directives :red[…] :small[…],
#   icons :material/name: (Streamlit rewrites ":material/" before parsing), entities &amp;.
# CommonMark lets a backslash escape ANY ASCII punctuation and shows it as the bare character,
# so escaping all of them is both complete and invisible to the reader (one exception: an
# underscore between two letters, which CommonMark never reads as emphasis, stays bare).
_MD_SPECIAL = frozenset(string.punctuation)

# GFM turns bare URLs and e-mail addresses into links AFTER escapes are resolved (a find-and-
# replace over the text: `http\://x\.cn` still becomes a link). A WORD JOINER (U+2060: no width,
# no line break) between the parts keeps the text as typed on screen but no longer a URL to
# the link finder; a copied address is deliberately not a working one.
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto)(:)|(www)(\.)|([\w.+-])(@)(?=[\w-])")
# Streamlit also rewrites text nodes: ":streamlit:" becomes its logo, " -> " " <= " " -- " become
# arrows and dashes. A word joiner inside each keeps the characters as typed.
_REWRITES = re.compile(r"(?<=:streamlit)(?=:)|(?<=[-<>~])(?=[-<>=])")


def md(text: object) -> str:
    """`text` as Markdown that renders exactly as the characters typed (no links, images, HTML, math).

    Line breaks stay line breaks; leading spaces stay spaces (not an indented code block).
    """
    raw = "" if text is None else str(text)
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    raw = _AUTOLINK.sub(lambda m: WORD_JOINER.join(g for g in m.groups() if g is not None), raw)
    raw = _REWRITES.sub(WORD_JOINER, raw)
    out: list[str] = []
    for line in raw.split("\n"):
        body = line.lstrip(" \t")
        # indentation would make an indented code block; no-break spaces show the same gap
        indent = "\u00a0" * (len(line) - len(body))
        out.append(indent + "".join(
            "\\" + ch if ch in _MD_SPECIAL and not _intraword_underscore(body, i) else ch
            for i, ch in enumerate(body)))
    # two trailing spaces: a hard line break, so a multi-line description keeps its lines
    return "  \n".join(out)


def _intraword_underscore(text: str, i: int) -> bool:
    """An "_" between two letters/digits (环卫_各区清运量): CommonMark never starts or ends emphasis
    there, so it stays as typed and names with underscores read the same in the page's text."""
    return (text[i] == "_" and 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum())


# ---------------------------------------------------------------------------- invisible characters
# Format (Cf: zero-width space/joiners, BOM, bidi controls, soft hyphen, invisible operators, tag
# characters), control (Cc), line/paragraph separators, surrogates, private use (no agreed glyph)
# and unassigned code points; plus letters and marks that draw nothing.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Zl", "Zp", "Cs", "Co", "Cn"})
_BLANK_GLYPHS = frozenset({
    "\u034f",  # combining grapheme joiner
    "\u115f", "\u1160", "\u3164", "\uffa0",  # Hangul fillers
    "\u2800",  # braille pattern blank
    "\u17b4", "\u17b5",  # Khmer inherent vowels
})


def _is_invisible(ch: str) -> bool:
    if ch in _BLANK_GLYPHS:
        return True
    cp = ord(ch)
    if 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:  # variation selectors
        return True
    return unicodedata.category(ch) in _INVISIBLE_CATEGORIES


def invisible_characters(text: str) -> list[tuple[int, str]]:
    """(1-based position, character) of every character a reader cannot see."""
    return [(i, ch) for i, ch in enumerate(text, start=1) if _is_invisible(ch)]


def strip_invisible(text: str) -> str:
    """`text` without the characters `invisible_characters` finds."""
    return "".join(ch for ch in text if not _is_invisible(ch))


def normalize_spaces(text: str) -> str:
    """Every visible space (no-break, ideographic, en/em …) as one ordinary space, trimmed.

    Such a space is a gap the user can see and meant as a space (a Chinese IME types U+3000);
    one canonical form means "环卫 清运" cannot exist twice with different spaces.
    """
    return "".join(" " if unicodedata.category(ch) == "Zs" else ch for ch in text).strip()


_NAMES = {
    "\u00ad": "软连字符", "\u061c": "阿拉伯文字方向标记", "\u180e": "蒙古文元音分隔符",
    "\u200b": "零宽空格", "\u200c": "零宽不连字", "\u200d": "零宽连字", "\u200e": "从左到右标记",
    "\u200f": "从右到左标记", "\u2060": "零宽不换行符", "\ufeff": "字节顺序标记（BOM）",
}


def _describe(ch: str) -> str:
    cp = ord(ch)
    if ch in _NAMES:
        label = _NAMES[ch]
    elif 0x202A <= cp <= 0x202E or 0x2066 <= cp <= 0x2069:
        label = "文字方向控制符"
    elif 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:
        label = "变体选择符"
    elif unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
        label = "控制字符"
    else:
        label = "不可见字符"
    return f"{label} U+{cp:04X}"


def check_visible(name: str, what: str) -> str:
    """`name` with visible spaces normalised; refuse it when it holds characters nobody can see.

    `what` is the Chinese noun for the message ("数据集名称", "列名").
    """
    found = invisible_characters(name)
    if found:
        shown = strip_invisible(name)
        where = "、".join(f"第 {i} 个字符是{_describe(ch)}" for i, ch in found[:3])
        more = f" 等 {len(found)} 处" if len(found) > 3 else ""
        raise UserFacingError(f"{what}「{shown}」中有看不见的字符：{where}{more}。"
                              f"这样的名称看起来和「{shown}」一样，却是另一个名称。",
                              hint="请删掉这个名称重新手动输入，不要从网页或聊天软件复制粘贴")
    return normalize_spaces(name)


# Characters Windows (and Excel's download dialog) refuse in file names, plus controls.
FILE_NAME_BAD = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def file_stem(text: str, fallback: str, *, sep: str = "-") -> str:
    """User text as a file name stem: refused characters replaced, no leading/trailing dots or
    spaces, never empty (saved charts, downloads and exports are named after titles)."""
    stem = re.sub(FILE_NAME_BAD.pattern + "+", sep, text or "").strip(" ." + sep)
    return stem or fallback
