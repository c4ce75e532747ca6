"""Link and image injection through Streamlit Markdown.

Attack: every Streamlit text element and widget label renders Markdown. A dataset description
`![x](http://host/img.png)` made every viewer's browser fetch that URL; a link in a board title,
a file name in the version history, a column name or an error message quoting user input became
a clickable link; `:red[…]`, `:material/…:` and `$…$` restyled the page. Expected: user text is
shown as the characters typed — every Markdown character backslash-escaped, bare URLs and
e-mail addresses broken for the link finder — on the pages (AppTest, asserting on the element
bodies and labels Streamlit sends to the browser) and in the one helper the pages use.
"""
from __future__ import annotations

import datetime as dt
import re
import string
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer, RepeatedScalarFieldContainer
from google.protobuf.message import Message
from streamlit.testing.v1 import AppTest

from citybi.boards import Board, Tile, board_store
from citybi.catalog import Catalog, Provenance, open_warehouse
from citybi.config import load_settings
from citybi.usertext import WORD_JOINER, md

ROOT = Path(__file__).resolve().parent.parent.parent
TABLE = "台账"

# (id, hostile text, may it be a column name — no line breaks there)
HOSTILE = [
    ("image", "![x](http://evil.example/img.png)"),
    ("link", "[点此领取补贴](http://evil.example/phish)"),
    ("html-anchor", '<a href="http://evil.example/">点此</a>'),
    ("html-image", "<img src=http://evil.example/x.png>"),
    ("angle-autolink", "<https://evil.example/>"),
    ("raw-url", "详见 http://evil.example/a?b=1"),
    ("www-url", "详见 www.evil.example/a"),
    ("email", "请联系 boss@evil.example"),
    ("color-directive", ":red[紧急通知]"),
    ("badge-directive", ":blue-badge[置顶]"),
    ("material-icon", ":material/warning: 注意"),
    ("latex", "$x^2$ 与 $$\\int_0^1$$"),
    ("emphasis-code", "**加粗** _斜体_ `代码` ~~删除~~"),
    ("heading-list", "# 大标题"),
    ("logo-arrow", ":streamlit: a -> b <= c"),
    ("reference-link", "[点此][1]\n\n[1]: http://evil.example/"),
    ("multiline-heading", "正常说明\n# 假标题\n- 列表项"),
]
ONE_LINE = [(i, h) for i, h in HOSTILE if "\n" not in h]
# where a link finder would still find a URL once Markdown escapes are resolved
RepeatedContainers = (RepeatedCompositeFieldContainer, RepeatedScalarFieldContainer)
_URLISH = re.compile(r"(?i)https?://|www\.|[\w.+-]@[\w-]")


# ---------------------------------------------------------------------------- what the browser receives
def _string_fields(message: Message) -> Iterator[tuple[str, str]]:
    for field, value in message.ListFields():
        items = value if isinstance(value, RepeatedContainers) else [value]
        for item in items:
            if isinstance(item, Message):
                yield from _string_fields(item)
            elif isinstance(item, str):
                yield field.name, item


def markdown_texts(at: AppTest) -> list[str]:
    """Every string the page sends that the browser renders as Markdown: bodies, labels, help."""
    out: list[str] = []
    for node in at._tree:
        proto = getattr(node, "proto", None)
        if proto is None or getattr(node, "type", "") in ("text", "code", "dataframe", "arrow_data_frame"):
            continue  # st.text and st.code show plain text; tables are not Markdown
        if getattr(proto, "allow_html", False):
            continue  # HTML the page wrote itself (the map legend escapes its user text with html.escape)
        out.extend(v for name, v in _string_fields(proto) if name in ("body", "label", "help", "text") and v)
    return out


def _literal_pattern(text: str) -> re.Pattern[str]:
    """`text` as it must appear once escaped: each ASCII punctuation mark after a backslash."""
    parts = []
    for ch in text:
        if ch == "_":  # between two letters it cannot make emphasis, so it may stay bare
            parts.append(r"\\?_")
        elif ch in string.punctuation:
            parts.append(r"\\" + re.escape(ch))
        elif ch == "\n":
            parts.append(r" *\n")
        else:
            parts.append(re.escape(ch))
    return re.compile(f"(?:{re.escape(WORD_JOINER)})?".join(parts))


def _raw_pattern(text: str) -> re.Pattern[str]:
    """`text` with its Markdown characters active: punctuation NOT after a backslash."""
    return re.compile("".join((r"(?<!\\)" + re.escape(ch)) if ch in string.punctuation else re.escape(ch)
                              for ch in text))


def _unescaped(body: str) -> str:
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", body)


def assert_shown_as_text(at: AppTest, hostile: str, *, must_appear: bool = True) -> None:
    assert not at.exception, [e.value for e in at.exception]
    texts = markdown_texts(at)
    raw = [t for t in texts if _raw_pattern(hostile).search(t)]
    assert not raw, f"user text reached Markdown unescaped: {raw}"
    if must_appear:
        pattern = _literal_pattern(hostile)
        assert any(pattern.search(t) for t in texts), f"{hostile!r} not shown (escaped) in {texts}"
    linked = [t for t in texts if _URLISH.search(_unescaped(t))]
    assert not linked, f"a bare URL or e-mail address is still a link: {linked}"


# ---------------------------------------------------------------------------- the helper
@pytest.mark.parametrize("hostile", [h for _i, h in HOSTILE], ids=[i for i, _h in HOSTILE])
def test_md_escapes_every_markdown_character(hostile: str) -> None:
    out = md(hostile)
    assert _literal_pattern(hostile).fullmatch(out), out
    assert not _URLISH.search(_unescaped(out)), out


@pytest.mark.parametrize(("text", "expected"), [
    ("环卫清运", "环卫清运"),
    ("清运量（吨）", "清运量（吨）"),  # full-width brackets are not Markdown
    ("PM2.5", "PM2\\.5"),
    ("50%", "50\\%"),
    ("a\\b", "a\\\\b"),
    ("第一行\n第二行", "第一行  \n第二行"),
    ("    缩进", "\u00a0\u00a0\u00a0\u00a0缩进"),  # not an indented code block
    ("http://x.cn", f"http{WORD_JOINER}\\:\\/\\/x\\.cn"),
    ("www.x.cn", f"www{WORD_JOINER}\\.x\\.cn"),
    ("a@b.cn", f"a{WORD_JOINER}\\@b\\.cn"),
    ("", ""),
    (None, ""),
    (12.5, "12\\.5"),
    ("环卫_各区清运量", "环卫_各区清运量"),  # intraword: never emphasis
    ("_斜体_", "\\_斜体\\_"),
    ("a__b__", "a\\_\\_b\\_\\_"),
    ("a -> b", f"a \\-{WORD_JOINER}\\> b"),  # not Streamlit's arrow
    (":streamlit:", f"\\:streamlit{WORD_JOINER}\\:"),  # not Streamlit's logo
], ids=["chinese", "fullwidth", "dot", "percent", "backslash", "newline", "indent", "url", "www", "email", "empty",
        "none", "number", "underscore-intraword", "underscore-emphasis", "underscore-strong", "arrow", "logo"])
def test_md_table(text: object, expected: str) -> None:
    assert md(text) == expected


def test_md_helper_needs_no_streamlit() -> None:
    code = "import sys; import citybi.usertext; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("hostile", [h for _i, h in HOSTILE], ids=[i for i, _h in HOSTILE])
def test_error_box_shows_messages_as_text(hostile: str) -> None:
    def app(hostile: str) -> None:
        from citybi.errors import NotFound
        from citybi.ui.state import show_error

        show_error(NotFound(f"数据集「{hostile}」不存在。", hint=f"请检查「{hostile}」"))

    at = AppTest.from_function(app, args=(hostile,), default_timeout=30).run()
    assert len(at.error) == 1
    assert_shown_as_text(at, hostile)


# ---------------------------------------------------------------------------- the pages
def _warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hostile: str) -> Path:
    """A dataset whose description, source file, a column and its values are all the hostile text."""
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("CITYBI_DB", str(path))
    column = hostile if "\n" not in hostile else "类别"
    frame = pl.DataFrame({
        "日期": [dt.date(2024, 6, 1), dt.date(2024, 6, 2)],
        "区": ["南湖区", "秀洲区"],
        column: ["正常", hostile.replace("\n", " ")],
        "清运量": [12.5, 8.0],
    })
    wh = open_warehouse(path=path)
    cat = Catalog(wh)
    cat.write(TABLE, frame, description=hostile, provenance=Provenance(source_file=hostile, note=hostile))
    cat.write(TABLE, frame, mode="replace", provenance=Provenance(source_file=hostile + ".xlsx"))
    cat.set_synonyms(TABLE, [hostile.replace("\n", " ")], column="清运量")
    board_store(load_settings(path)).save("恶意看板", Board(
        title=hostile.replace("\n", " "), description=hostile,
        tiles=[Tile(chart=hostile.replace("\n", " ")[:60], title=hostile.replace("\n", " "))]))
    wh.close()
    return path


@pytest.mark.parametrize("hostile", [h for _i, h in HOSTILE], ids=[i for i, _h in HOSTILE])
def test_datasets_page_description_and_version_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        hostile: str) -> None:
    _warehouse(tmp_path, monkeypatch, hostile)
    at = AppTest.from_file(str(ROOT / "pages" / "datasets.py"), default_timeout=60).run()
    assert_shown_as_text(at, hostile)
    # the description caption and the file names of both versions are there, as text
    assert sum(bool(_literal_pattern(hostile).search(t)) for t in markdown_texts(at)) >= 3


@pytest.mark.parametrize("hostile", [h for _i, h in HOSTILE], ids=[i for i, _h in HOSTILE])
def test_board_title_description_and_tile_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                hostile: str) -> None:
    _warehouse(tmp_path, monkeypatch, hostile)
    at = AppTest.from_file(str(ROOT / "pages" / "boards.py"), default_timeout=60)
    at.query_params["board"] = "恶意看板"
    at.run()
    assert_shown_as_text(at, hostile.replace("\n", " "))
    assert_shown_as_text(at, hostile)  # the description keeps its lines
    assert at.warning, "the tile whose chart does not exist shows its error"


@pytest.mark.parametrize("hostile", [h for _i, h in ONE_LINE], ids=[i for i, _h in ONE_LINE])
def test_ask_page_question_column_and_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hostile: str) -> None:
    _warehouse(tmp_path, monkeypatch, hostile)
    at = AppTest.from_file(str(ROOT / "pages" / "ask.py"), default_timeout=60).run()
    at.selectbox(key="ask_table").set_value(TABLE).run()
    at.text_input(key="ask_q").input(f"各区的清运量 {hostile}")  # inside a form: sent with the submit
    next(b for b in at.button if b.label == "提问").click().run()
    assert_shown_as_text(at, hostile)
    heading = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert heading and _literal_pattern(hostile).search(heading[0]), heading


@pytest.mark.parametrize("hostile", [h for _i, h in ONE_LINE], ids=[i for i, _h in ONE_LINE])
def test_charts_page_widget_labels_with_a_hostile_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         hostile: str) -> None:
    _warehouse(tmp_path, monkeypatch, hostile)
    at = AppTest.from_file(str(ROOT / "pages" / "charts.py"), default_timeout=60).run()
    at.selectbox(key="cb_ds").set_value(TABLE).run()
    at.multiselect(key="cb_ms_dims").set_value([hostile]).run()
    at.multiselect(key="cb_ms_measures").set_value(["清运量"]).run()
    at.multiselect(key="cb_filters").set_value([hostile]).run()
    assert_shown_as_text(at, hostile)
    # the filter's label names the column: 「…」取值
    assert any(_literal_pattern(hostile).search(m.label) for m in at.multiselect)
