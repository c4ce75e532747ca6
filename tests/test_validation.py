"""Validation rules per dataset: rules × rows → the failures a clerk is told, before writing.

Checked by pandera's polars backend; each failure names its rule in Chinese with the number of
rows and samples. The rules live with the dataset in the catalog (`citybi rules set`), and the
next import into it reports what breaks them (`citybi ingest --json` → rule_failures).
"""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import filefactory as ff

from citybi.catalog import Catalog, open_warehouse
from citybi.dictionaries import Entry, ValueDictionary
from citybi.errors import UserFacingError
from citybi.validation import Allowed, Range, Rules, check

TODAY = dt.date(2024, 6, 30)
AIR = pl.DataFrame({
    "日期": [dt.date(2024, 6, 1), dt.date(2024, 6, 1), dt.date(2024, 7, 1), dt.date(2024, 6, 2)],
    "区": ["南湖区", "南湖区", "火星区", None],
    "AQI": [45, 612, -3, None],
})
PLACES = ValueDictionary(name="行政区划", entries=[Entry(standard="南湖区", level="区"),
                                                   Entry(standard="秀洲区", level="区")])


@pytest.mark.parametrize(("rules", "expected"), [
    (Rules(), []),
    (Rules(required=["站点"]), [("缺少必需的列", "站点", 4, [])]),
    (Rules(not_null=["AQI"]), [("不能为空", "AQI", 1, ["第 4 条：空"])]),
    (Rules(ranges={"AQI": Range(min=0, max=500)}),
     [("AQI 应在 0 到 500 之间", "AQI", 2, ["第 2 条：612", "第 3 条：-3"])]),
    (Rules(ranges={"AQI": Range(max=500)}), [("AQI 应不大于 500", "AQI", 1, ["第 2 条：612"])]),
    (Rules(allowed={"区": Allowed(dictionary="行政区划", level="区")}),
     [("区 的取值应在数据标准「行政区划」中", "区", 1, ["第 3 条：火星区"])]),
    (Rules(not_future=["日期"]), [("日期 不能晚于今天（2024-06-30）", "日期", 1, ["第 3 条：2024-07-01"])]),
    (Rules(unique=["日期", "区"]), [("日期、区 不能重复（主键）", "日期、区", 2, None)]),
    (Rules(unique=["日期", "区", "AQI"]), []),
])
def test_rules_to_failures(rules: Rules, expected: list[tuple[str, str, int, list[str] | None]]) -> None:
    got = check(AIR, rules, [PLACES], TODAY)
    assert [(f.rule, f.column, f.rows) for f in got] == [e[:3] for e in expected]
    for f, e in zip(got, expected, strict=True):
        if e[3] is not None:
            assert f.samples == e[3]


def test_a_rule_naming_a_missing_dictionary_says_so() -> None:
    with pytest.raises(UserFacingError, match="数据标准字典「垃圾类型」不存在"):
        check(AIR, Rules(allowed={"区": Allowed(dictionary="垃圾类型")}), [PLACES], TODAY)


def test_rules_live_with_the_dataset(tmp_path: Path) -> None:
    with open_warehouse(path=tmp_path / "w.duckdb") as wh:
        cat = Catalog(wh)
        cat.write("空气质量", AIR)
        rules = Rules(not_null=["AQI"], ranges={"AQI": Range(min=0, max=500)})
        cat.set_rules("空气质量", rules)
        assert cat.rules("空气质量") == rules
        cat.delete("空气质量")
        cat.write("空气质量", AIR)
        assert cat.rules("空气质量") == Rules()  # a new dataset of the same name starts without rules


def test_cli_sets_rules_and_the_next_import_reports_what_breaks_them(tmp_path: Path) -> None:
    cli = Path(sys.executable).with_name("citybi")
    db = tmp_path / "w.duckdb"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([str(cli), *args, "--db", str(db)], capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr
        return out

    may = ff.xlsx_sheets(tmp_path / "5月.xlsx", {"AQI": [["日期", "站点", "AQI"], ["2024-05-01", "江滨", 45]]})
    run("ingest", str(may), "--table", "空气质量")
    shown = run("rules", "set", "空气质量", "--range", "AQI=0:500", "--not-null", "站点", "--unique", "日期",
                "--unique", "站点")
    assert "AQI：0 ≤ 值 ≤ 500" in shown.stdout and "主键（不能重复）：日期、站点" in shown.stdout
    june = ff.xlsx_sheets(tmp_path / "6月.xlsx", {"AQI": [["日期", "站点", "AQI"], ["2024-06-01", "江滨", 512],
                                                         ["2024-06-01", "江滨", 40], ["2024-06-02", None, 30]]})
    out = run("ingest", str(june), "--table", "空气质量", "--mode", "append", "--json")
    failures = json.loads(out.stdout.strip().splitlines()[-1])["rule_failures"]
    assert sorted((f["rule"], f["rows"]) for f in failures) == [
        ("AQI 应在 0 到 500 之间", 1), ("不能为空", 1), ("日期、站点 不能重复（主键）", 2)]
    text = run("ingest", str(june), "--table", "空气质量6月", "--mode", "create")
    assert "不符合校验规则" not in text.stdout  # a new dataset has no rules yet


def test_import_page_shows_broken_rules_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    db = tmp_path / "app.duckdb"
    monkeypatch.setenv("CITYBI_DB", str(db))
    with open_warehouse(path=db) as wh:
        Catalog(wh).write("空气质量", AIR.head(1))
        Catalog(wh).set_rules("空气质量", Rules(ranges={"AQI": Range(min=0, max=500)}))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages/import_data.py"),
                           default_timeout=60).run()
    at.file_uploader[0].upload("6月.csv", "日期,区,AQI\n2024-06-03,南湖区,520\n".encode(), "text/csv").run()
    at.text_input[0].input("空气质量").run()
    at.radio[0].set_value("append").run()
    assert not at.exception, at.exception
    # the Excel row number (the header is row 1), from the quality report the page shows below
    assert any("AQI 应在 0 到 500 之间（1 行，例如 第 2 行：520）" in w.value for w in at.warning), \
        [w.value for w in at.warning]


def test_the_sample_city_satisfies_its_own_rules() -> None:
    from citybi.samples import _generator, sample_dictionaries, sample_rules

    gen = _generator()
    tables = gen.build_tables()
    for name, rules in sample_rules().items():
        frame = pl.DataFrame(tables[name], schema=gen.column_names(name), orient="row", infer_schema_length=None)
        assert check(frame, rules, sample_dictionaries(gen), dt.date(2025, 6, 30)) == [], name


@pytest.mark.parametrize(("edits", "key", "expected", "error"), [
    ({1: {"取值字典": "行政区划/区", "不能为空": True}, 2: {"最小值": 0, "最大值": 500}}, ["日期", "区"],
     Rules(not_null=["区"], ranges={"AQI": Range(min=0, max=500)},
           allowed={"区": Allowed(dictionary="行政区划", level="区")}, unique=["日期", "区"]), None),
    ({1: {"取值字典": "行政区划/社区"}}, [], Rules(), "社区」不存在"),  # the message is Markdown: its / is escaped
    ({2: {"最小值": 500, "最大值": 0}}, [], Rules(), "最小值 500 大于最大值 0"),
], ids=["saved", "unknown-level", "min-above-max"])
def test_datasets_page_edits_the_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       edits: dict[int, dict[str, object]], key: list[str], expected: Rules,
                                       error: str | None) -> None:
    from streamlit.testing.v1 import AppTest

    db = tmp_path / "app.duckdb"
    monkeypatch.setenv("CITYBI_DB", str(db))
    with open_warehouse(path=db) as wh:
        Catalog(wh).write("空气质量", AIR)
        Catalog(wh).save_dictionary(PLACES)
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages/datasets.py"), default_timeout=60).run()
    editor = at.data_editor(key="rules_空气质量")
    assert editor.value["列"].to_list() == ["日期", "区", "AQI"]
    at.session_state[editor.key] = {"edited_rows": edits, "added_rows": [], "deleted_rows": []}
    at.multiselect(key="rules_key_空气质量").set_value(key)
    at.button(key="rules_save").click().run()
    assert not at.exception, at.exception
    if error:
        assert any(error in e.value for e in at.error), [e.value for e in at.error]
    else:
        assert any("已保存数据集「空气质量」的校验规则" in s.value for s in at.success)
    with open_warehouse(path=db) as wh:
        assert Catalog(wh).rules("空气质量") == expected
