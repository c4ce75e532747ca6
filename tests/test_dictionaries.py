"""Value dictionaries: column values → the proposals a clerk sees, and the catalog keeping them."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from citybi.catalog import Catalog, open_warehouse
from citybi.dictionaries import (
    ColumnProposal,
    Entry,
    ValueDictionary,
    apply,
    from_frame,
    propose,
    propose_column,
    settle,
    to_frame,
)
from citybi.errors import UserFacingError
from citybi.samples import sample_dictionaries

PLACES = ValueDictionary(name="行政区划", prefixes=["嘉兴市"], entries=[
    Entry(standard="南湖区", code="330402", level="区", aliases=["Nanhu"]),
    Entry(standard="秀洲区", code="330411", level="区", aliases=["Xiuzhou"]),
    Entry(standard="北港区", code="330499", level="区"),
    Entry(standard="北港新区", code="330498", level="区"),
    Entry(standard="建设街道", code="330402001", level="街道", parent="南湖区"),
    Entry(standard="新嘉街道", code="330402002", level="街道", parent="南湖区", aliases=["新嘉"]),
    Entry(standard="新城街道", code="330411001", level="街道", parent="秀洲区"),
])
WASTE = ValueDictionary(name="垃圾类型", entries=[
    Entry(standard="厨余垃圾", aliases=["湿垃圾"]), Entry(standard="其他垃圾", aliases=["干垃圾"]),
    Entry(standard="可回收物"), Entry(standard="有害垃圾"),
])


def _mappings(p: ColumnProposal) -> list[tuple[str, str, int, str]]:
    return sorted((m.original, m.standard, m.rows, m.reason) for m in p.mappings)


# one district spelling per row: (value, rows) → the proposal expected for it; None = already standard,
# "?" = unknown (listed, never mapped)
DISTRICT_CASES = [
    ("南湖区", 5, None),
    ("南湖", 3, ("南湖区", "affix")),           # the level suffix missing
    ("嘉兴市南湖区", 2, ("南湖区", "affix")),   # the city prefix
    ("南湖区城管局", 1, ("南湖区", "affix")),   # a department after the place
    ("ＮＡＮＨＵ", 1, ("南湖区", "variant")),   # full width, upper case, of an alias
    ("Nanhu", 1, ("南湖区", "alias")),
    ("秀洲 区", 1, ("秀洲区", "variant")),      # a space
    ("秀洲區", 1, ("秀洲区", "variant")),       # traditional characters
    ("火星区", 1, "?"),
]


def test_district_values_become_proposals_with_rows_and_reasons() -> None:
    counts = [(v, n) for v, n, _ in DISTRICT_CASES]
    p = propose_column("区", counts, [PLACES, WASTE])
    assert p is not None and (p.dictionary, p.level) == ("行政区划", "区")
    assert (p.rows, p.standard_rows) == (16, 5)
    expected = sorted((v, e[0], n, e[1]) for v, n, e in DISTRICT_CASES if isinstance(e, tuple))
    assert _mappings(p) == expected
    assert [(u.value, u.rows) for u in p.unknown] == [("火星区", 1)]
    assert {m.original: m.confidence for m in p.mappings}["ＮＡＮＨＵ"] == 0.95


@pytest.mark.parametrize(("column", "values", "expected_level", "mapped", "unknown"), [
    # streets: written after their district or the city, or without 街道
    ("街道", ["建设街道", "建设街道", "南湖区新嘉街道", "新嘉", "嘉兴市秀洲区新城街道"], "街道",
     [("南湖区新嘉街道", "新嘉街道", 1, "affix"), ("嘉兴市秀洲区新城街道", "新城街道", 1, "affix"),
      ("新嘉", "新嘉街道", 1, "alias")], []),
    # 北港 could be 北港区 or 北港新区: listed with both candidates, never guessed
    ("区", ["南湖区", "南湖区", "北港"], "区", [], [("北港", ["北港区", "北港新区"])]),
    # a typo is proposed at low confidence ("similar"): auto never takes it
    ("街道", ["建设街道", "建设街道", "建设街"], "街道", [("建设街", "建设街道", 1, "similar")], []),
    # another dictionary: 湿垃圾 is an alias of 厨余垃圾
    ("垃圾类型", ["厨余垃圾", "湿垃圾", "干垃圾"], "",
     [("干垃圾", "其他垃圾", 1, "alias"), ("湿垃圾", "厨余垃圾", 1, "alias")], []),
])
def test_column_values_to_proposals(column: str, values: list[str], expected_level: str,
                                    mapped: list[tuple[str, str, int, str]],
                                    unknown: list[tuple[str, list[str]]]) -> None:
    [p] = propose(pl.DataFrame({column: values}), [PLACES, WASTE])
    assert p.level == expected_level
    assert _mappings(p) == sorted(mapped)
    assert [(u.value, u.candidates) for u in p.unknown] == unknown


@pytest.mark.parametrize(("values", "why"), [
    (["夜间施工噪音很大", "路灯不亮", "南湖区"], "free text: most rows belong to no dictionary"),
    (["南湖区", "秀洲区", None], "all standard: nothing to decide"),
])
def test_columns_not_offered(values: list[str | None], why: str) -> None:
    assert propose(pl.DataFrame({"c": values}), [PLACES, WASTE]) == [], why


def test_numbers_are_not_matched() -> None:
    assert propose(pl.DataFrame({"n": [1, 2, 3]}), [PLACES]) == []


FRAME = pl.DataFrame({"区": ["南湖区", "南湖", "南湖", "嘉兴市南湖区", "火星区", "建设街"],
                      "吨": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})


@pytest.mark.parametrize(("chosen", "auto", "applied", "remembered"), [
    # nothing chosen, not auto: nothing changes
    ({}, False, ["南湖区", "南湖", "南湖", "嘉兴市南湖区", "火星区", "建设街"], {}),
    # auto takes the high-confidence proposals
    ({}, True, ["南湖区", "南湖区", "南湖区", "南湖区", "火星区", "建设街"],
     {"区": {"南湖": "南湖区", "嘉兴市南湖区": "南湖区"}}),
    # the clerk keeps 南湖 as it is (mapped to itself): auto leaves it, and it is remembered
    ({"区": {"南湖": "南湖"}}, True, ["南湖区", "南湖", "南湖", "南湖区", "火星区", "建设街"],
     {"区": {"南湖": "南湖", "嘉兴市南湖区": "南湖区"}}),
    # the clerk corrects a proposal: 南湖 here means 秀洲区 (it becomes the clerk's mapping)
    ({"区": {"南湖": "秀洲区"}}, False, ["南湖区", "秀洲区", "秀洲区", "嘉兴市南湖区", "火星区", "建设街"],
     {"区": {"南湖": "秀洲区"}}),
    # the clerk fixes an unknown value
    ({"区": {"火星区": "秀洲区"}}, False, ["南湖区", "南湖", "南湖", "嘉兴市南湖区", "秀洲区", "建设街"],
     {"区": {"火星区": "秀洲区"}}),
])
def test_settle_and_apply(chosen: dict[str, dict[str, str]], auto: bool, applied: list[str],
                          remembered: dict[str, dict[str, str]]) -> None:
    proposals = propose(FRAME, [PLACES])
    settled, remember = settle(FRAME, proposals, chosen, auto=auto)
    out = apply(FRAME, settled)
    assert out["区"].to_list() == applied
    assert out["吨"].to_list() == FRAME["吨"].to_list()
    assert remember == remembered


def test_a_clerk_mapping_of_a_column_no_dictionary_fits_is_applied() -> None:
    frame = pl.DataFrame({"单位": ["城管局", "城管局", "环卫处"]})
    settled, remember = settle(frame, [], {"单位": {"城管局": "城市管理局"}}, auto=False)
    assert [(p.column, p.dictionary, _mappings(p)) for p in settled] == [
        ("单位", "", [("城管局", "城市管理局", 2, "clerk")])]
    assert apply(frame, settled)["单位"].to_list() == ["城市管理局", "城市管理局", "环卫处"]
    assert remember == {"单位": {"城管局": "城市管理局"}}


# ---------------------------------------------------------------------- from a clerk's table
def test_dictionary_from_a_table_round_trips() -> None:
    table = pl.DataFrame({
        "层级": ["区", "区", "街道"], "标准名称": ["南湖区", "秀洲区", "建设街道"], "编码": ["330402", "330411", None],
        "上级": [None, None, "南湖区"], "别名": ["南湖、Nanhu", None, "建设"],
    })
    d = from_frame("行政区划", table, prefixes=["嘉兴市"])
    assert [(e.standard, e.code, e.level, e.parent, e.aliases) for e in d.entries] == [
        ("南湖区", "330402", "区", "", ["南湖", "Nanhu"]), ("秀洲区", "330411", "区", "", []),
        ("建设街道", "", "街道", "南湖区", ["建设"])]
    assert from_frame("行政区划", to_frame(d), prefixes=["嘉兴市"]) == d


@pytest.mark.parametrize(("table", "message"), [
    ({"名字": ["南湖区"]}, "没有找到「标准名称」列"),
    ({"标准名称": ["建设街道"], "上级": ["南湖区"]}, "上级「南湖区」本身不在字典里"),
    ({"标准名称": ["南湖区", "南湖区"]}, "第 3 行的「南湖区」重复出现"),
    ({"标准名称": [None, " "]}, "没有任何标准名称"),
])
def test_bad_dictionary_tables_say_what_is_wrong(table: dict[str, list[str | None]], message: str) -> None:
    with pytest.raises(UserFacingError, match=message):
        from_frame("行政区划", pl.DataFrame(table, schema=dict.fromkeys(table, pl.String)))


# ---------------------------------------------------------------------- in the catalog
def test_catalog_saves_lists_replaces_and_deletes_dictionaries(tmp_path: Path) -> None:
    with open_warehouse(path=tmp_path / "w.duckdb") as wh:
        cat = Catalog(wh)
        assert cat.dictionaries() == []
        cat.save_dictionary(PLACES)
        cat.save_dictionary(WASTE)
        assert [d.name for d in cat.dictionaries()] == ["垃圾类型", "行政区划"]
        smaller = PLACES.model_copy(update={"entries": PLACES.entries[:2]})
        cat.save_dictionary(smaller)
        assert cat.dictionary("行政区划") == smaller
        assert cat.delete_dictionary("垃圾类型") is True
        assert cat.delete_dictionary("垃圾类型") is False
        assert [d.name for d in cat.dictionaries()] == ["行政区划"]
    with open_warehouse(path=tmp_path / "w.duckdb") as wh:  # kept in the file
        assert Catalog(wh).dictionary("行政区划") == smaller


def test_the_sample_city_ships_dictionaries_matching_its_data() -> None:
    places, waste, complaints = sample_dictionaries()
    assert places.levels() == ["区", "街道"]
    assert "临江区" in places.values("区") and "滨江街道" in places.values("街道")
    frame = pl.DataFrame({"区": ["临江区", "清源市临江区", "臨江區", "青禾"],
                          "街道": ["滨江街道", "临江区滨江街道", "渔村", "禾丰街道"],  # 渔村: its 村 is the name
                          "垃圾类型": ["厨余垃圾", "湿垃圾", "其他垃圾", "干垃圾"]})
    settled, _ = settle(frame, propose(frame, [places, waste, complaints]), {}, auto=True)
    out = apply(frame, settled)
    assert set(out["区"]) <= set(places.values("区"))
    assert set(out["街道"]) <= set(places.values("街道"))
    assert set(out["垃圾类型"]) <= set(waste.values())
