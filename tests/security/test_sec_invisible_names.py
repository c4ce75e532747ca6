"""Look-alike names: invisible characters in dataset and column names.

Attack: a name that looks exactly like an existing one but is a different string —
"环卫\u200b清运" next to "环卫清运" — so a clerk appends to, asks about or deletes the wrong
dataset, or a column "清运量" that is not the 清运量 a chart or recipe means. Names the user
types are refused with a Chinese message saying which character and where; names the importer
finds in a file's header (a stray BOM or zero-width space the clerk never typed) are cleaned.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from citybi.catalog import Catalog, open_warehouse
from citybi.errors import UserFacingError
from citybi.importer import ingest_file, options_with_edits, prepare_file
from citybi.warehouse import Warehouse

BASE = "环卫清运"

# (id, look-alike of 环卫清运, the code point the message must name)
LOOK_ALIKES = [
    ("zero-width-space", "环卫\u200b清运", "U+200B"),
    ("zero-width-non-joiner", "环卫\u200c清运", "U+200C"),
    ("zero-width-joiner", "环卫\u200d清运", "U+200D"),
    ("word-joiner", "环卫\u2060清运", "U+2060"),
    ("bom-leading", "\ufeff环卫清运", "U+FEFF"),
    ("bom-inside", "环卫\ufeff清运", "U+FEFF"),
    ("left-to-right-mark", "\u200e环卫清运", "U+200E"),
    ("right-to-left-mark", "环卫清运\u200f", "U+200F"),
    ("rtl-override", "环卫\u202e运清", "U+202E"),
    ("ltr-embedding", "\u202a环卫清运\u202c", "U+202A"),
    ("first-strong-isolate", "环卫\u2068清运\u2069", "U+2068"),
    ("soft-hyphen", "环卫\u00ad清运", "U+00AD"),
    ("mongolian-vowel-separator", "环卫\u180e清运", "U+180E"),
    ("variation-selector", "环卫\ufe0f清运", "U+FE0F"),
    ("combining-grapheme-joiner", "环卫\u034f清运", "U+034F"),
    ("hangul-filler", "环卫\u3164清运", "U+3164"),
    ("invisible-times", "环卫\u2062清运", "U+2062"),
    ("tag-character", "环卫清运\U000e0041", "U+E0041"),
    ("delete-control", "环卫\x7f清运", "U+007F"),
    ("c1-control", "环卫\x85清运", "U+0085"),
    ("line-separator", "环卫\u2028清运", "U+2028"),
    ("private-use", "环卫\ue000清运", "U+E000"),
]

# names that are fine as typed (ordinary spaces, full-width brackets, Latin, digits)
ORDINARY = [
    ("chinese", "环卫清运", "环卫清运"),
    ("fullwidth-unit", "清运量（吨）", "清运量（吨）"),
    ("latin-digits", "PM2.5 日报", "PM2.5 日报"),
    ("emoji", "热线☎工单", "热线☎工单"),
    # a full-width IME space or a no-break space is a visible gap the clerk meant as a space:
    # one canonical space, so "环卫 清运" cannot exist twice with different spaces
    ("ideographic-space", "环卫\u3000清运", "环卫 清运"),
    ("no-break-space", "环卫\u00a0清运", "环卫 清运"),
]


def _frame(column: str = "清运量") -> pl.DataFrame:
    return pl.DataFrame({"日期": [dt.date(2024, 6, 1)], "区": ["南湖区"], column: [12.5]})


@pytest.fixture()
def wh(tmp_path: Path) -> Warehouse:
    w = open_warehouse(path=tmp_path / "names.duckdb")
    Catalog(w).write(BASE, _frame())
    return w


def _assert_chinese_refusal(err: UserFacingError, codepoint: str) -> None:
    assert "看不见的字符" in err.message, err.message
    assert codepoint in err.message, err.message
    assert err.hint, "the message must say how to fix it"


@pytest.mark.parametrize(("name", "codepoint"), [(n, c) for _i, n, c in LOOK_ALIKES],
                         ids=[i for i, _n, _c in LOOK_ALIKES])
def test_dataset_name_with_invisible_character_is_refused(wh: Warehouse, name: str, codepoint: str) -> None:
    cat = Catalog(wh)
    with pytest.raises(UserFacingError) as info:
        cat.write(name, _frame())
    _assert_chinese_refusal(info.value, codepoint)
    assert cat.names() == [BASE]  # no look-alike twin was created


@pytest.mark.parametrize(("name", "codepoint"), [(n, c) for _i, n, c in LOOK_ALIKES],
                         ids=[i for i, _n, _c in LOOK_ALIKES])
def test_replace_through_a_look_alike_name_is_refused(wh: Warehouse, name: str, codepoint: str) -> None:
    cat = Catalog(wh)
    with pytest.raises(UserFacingError) as info:
        cat.write(name, _frame(), mode="replace")
    _assert_chinese_refusal(info.value, codepoint)
    assert cat.names() == [BASE] and cat.get(BASE).version == 1


@pytest.mark.parametrize(("column", "codepoint"), [(n.replace("环卫清运", "清运量"), c) for _i, n, c in LOOK_ALIKES],
                         ids=[i for i, _n, _c in LOOK_ALIKES])
def test_column_name_with_invisible_character_is_refused_by_the_catalog(
        wh: Warehouse, column: str, codepoint: str) -> None:
    cat = Catalog(wh)
    with pytest.raises(UserFacingError) as info:
        cat.write("新台账", _frame(column))
    _assert_chinese_refusal(info.value, codepoint)
    assert "列名" in info.value.message
    assert cat.names() == [BASE]


@pytest.mark.parametrize(("typed", "stored"), [(t, s) for _i, t, s in ORDINARY], ids=[i for i, _t, _s in ORDINARY])
def test_ordinary_names_are_accepted(wh: Warehouse, typed: str, stored: str) -> None:
    cat = Catalog(wh)
    result = cat.write("新" + typed, _frame(typed))
    assert result.dataset == "新" + stored
    assert [c.name for c in cat.get("新" + stored).columns] == ["日期", "区", stored]


CSV_HEADER = "日期,区,清运量（吨）\n2024-06-01,南湖区,12.5\n2024-06-02,秀洲区,8\n"


@pytest.mark.parametrize(("typed", "codepoint"), [(n.replace("环卫清运", "清运量"), c) for _i, n, c in LOOK_ALIKES],
                         ids=[i for i, _n, _c in LOOK_ALIKES])
def test_typed_column_name_in_the_import_plan_is_refused(wh: Warehouse, tmp_path: Path, typed: str,
                                                         codepoint: str) -> None:
    path = tmp_path / "台账.csv"
    path.write_text(CSV_HEADER, encoding="utf-8")
    prepared = prepare_file(wh, path)
    try:
        plan = prepared.plan
        edits = [{"列名": c.name, "类型": c.type, "单位": c.unit or "", "跳过": False} for c in plan.columns]
        edits[2]["列名"] = typed
        with pytest.raises(UserFacingError) as info:
            options_with_edits(plan, edits)
        _assert_chinese_refusal(info.value, codepoint)
    finally:
        prepared.discard()


# headers as they arrive in files: the clerk did not type these characters and cannot see them
FOUND_HEADERS = [
    ("bom-before-header", "\ufeff日期", "日期"),
    ("zwsp-inside", "清运\u200b量", "清运量"),
    ("zwj-after", "区\u200d", "区"),
    ("rtl-mark", "\u200f备注", "备注"),
    ("word-joiner", "车\u2060次", "车次"),
    ("soft-hyphen", "出车\u00ad车次", "出车车次"),
]


@pytest.mark.parametrize(("header", "clean"), [(h, c) for _i, h, c in FOUND_HEADERS],
                         ids=[i for i, _h, _c in FOUND_HEADERS])
def test_invisible_characters_in_a_files_header_are_cleaned(wh: Warehouse, tmp_path: Path, header: str,
                                                            clean: str) -> None:
    path = tmp_path / "上报.csv"
    path.write_text(f"编号,{header}\n1,甲\n2,乙\n", encoding="utf-8")
    result = ingest_file(wh, path, table="上报")
    names = [c.name for c in Catalog(wh).get(result.write.dataset).columns]
    assert names == ["编号", clean]
