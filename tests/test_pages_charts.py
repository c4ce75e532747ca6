"""图表 page (Streamlit AppTest) over the sample city: build through the wells, preview, save, reopen.

The drag-and-drop board (streamlit-sortables) renders in AppTest as a custom component;
a drag is simulated by setting its value in session state, exactly what the browser
component sends back. The select-based wells are driven as a clerk would click them.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from citybi.catalog import Catalog, open_warehouse
from citybi.charts.cache import ResultCache
from citybi.charts.runner import run_chart
from citybi.charts.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
DISTRICTS = ["临江区", "云湖区", "松岭区", "北港区", "望山区", "青禾新区"]


_TOTALS: dict[str, float] = {}


@pytest.fixture(scope="module")
def sample_db(sample_copy: Callable[[str], Path]) -> Path:
    path = sample_copy("charts_page")
    wh = open_warehouse(path=path)
    # 清运量 per district straight from DuckDB: what the saved chart must show
    cur = wh.cursor()
    rows = cur.execute('SELECT "区", SUM("清运量（吨）") FROM "环卫清运" GROUP BY 1').fetchall()
    cur.close()
    _TOTALS.update({r[0]: r[1] for r in rows})
    wh.close()  # the page opens its own (one Warehouse per file per process)
    return path


@pytest.fixture()
def db(sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CITYBI_DB", str(sample_db))
    return sample_db


@pytest.fixture()
def totals(sample_db: Path) -> dict[str, float]:
    return dict(_TOTALS)


def _page() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "charts.py"), default_timeout=90).run()


def _ok(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def _figure(at: AppTest) -> dict[str, Any]:
    import json

    charts = at.get("plotly_chart")
    assert charts, "no plotly preview"
    return json.loads(charts[0].proto.spec)


def _charts_dir(db: Path) -> Path:
    return db.parent / "charts"


def test_empty_page_explains_what_to_do(db: Path) -> None:
    at = _page()
    _ok(at)
    assert at.title[0].value == "图表"
    assert any("维度" in i.value for i in at.info)
    # the shipped default charts are listed to open
    assert "环卫_各区清运量" in at.selectbox(key="cb_pick").options


@pytest.mark.parametrize(
    ("dims", "measures", "hint"),
    [
        (["区"], [], "指标"),  # a dimension chosen, the number not yet: a hint, not an error
        (["区", "街道", "垃圾类型", "日期"], ["清运量（吨）", "车次"], "还差一步"),  # too many for a pie
    ],
)
def test_building_stays_calm_until_the_chart_is_complete(db: Path, dims: list[str], measures: list[str],
                                                          hint: str) -> None:
    at = _page()
    at.selectbox(key="cb_ds").select("环卫清运").run()
    at.multiselect(key="cb_ms_dims").set_value(dims).run()
    at.multiselect(key="cb_ms_measures").set_value(measures).run()
    if len(dims) > 2:
        at.selectbox(key="cb_type").select("pie").run()
    _ok(at)  # no red while still choosing
    assert any(hint in i.value for i in at.info), [i.value for i in at.info]
    assert not any("度量" in str(e.value) for e in [*at.info, *at.warning, *at.markdown, *at.caption])


def test_build_bar_through_select_wells_preview_save_and_run(db: Path, totals: dict[str, float]) -> None:
    at = _page()
    at.selectbox(key="cb_ds").select("环卫清运").run()
    at.multiselect(key="cb_ms_dims").set_value(["区"]).run()
    at.multiselect(key="cb_ms_measures").set_value(["清运量（吨）"]).run()
    _ok(at)
    assert at.session_state["cb_wells"] == {"维度": ["区"], "指标": ["清运量（吨）"], "颜色/系列": []}
    assert at.selectbox(key="cb_agg::清运量（吨）").value == "sum"
    fig = _figure(at)
    bar = fig["data"][0]
    assert bar["type"] == "bar"
    assert sorted(bar["x"]) == sorted(DISTRICTS)
    got = dict(zip(bar["x"], bar["y"], strict=True))
    assert all(got[d] == pytest.approx(totals[d]) for d in DISTRICTS)
    sql = [c.value for c in at.code if c.language == "sql"]
    assert sql and 'SUM("清运量（吨）")' in sql[0] and "GROUP BY" in sql[0]

    # sort from high to low, top 3
    at.selectbox(key="cb_sort").select("清运量（吨）").run()
    at.number_input(key="cb_topn").set_value(3).run()
    _ok(at)
    top = sorted(totals, key=totals.get, reverse=True)[:3]
    assert _figure(at)["data"][0]["x"] == top

    at.text_input(key="cb_title").input("各区清运量前三").run()
    at.text_area(key="cb_desc").input("全部日期，清运量合计最高的三个区").run()
    at.button(key="cb_save").click().run()
    _ok(at)
    assert any("已保存图表「各区清运量前三」" in s.value for s in at.success)
    path = _charts_dir(db) / "各区清运量前三.yaml"
    spec = load_spec(path.read_bytes())
    assert (spec.title, spec.description, spec.dataset, spec.type, spec.top_n) == (
        "各区清运量前三", "全部日期，清运量合计最高的三个区", "环卫清运", "bar", 3)
    from citybi.context import SYSTEM, use
    from citybi.ui.state import get_warehouse  # the warehouse the page used (same process)

    wh = get_warehouse()
    with use(SYSTEM):  # the app's warehouse wants a caller: the check reads as the operator
        frame = run_chart(wh, spec, cache=ResultCache(), info=Catalog(wh).get("环卫清运")).frame
    assert frame["区"].to_list() == top
    assert frame["清运量（吨）"].to_list() == pytest.approx([totals[d] for d in top])

    # saving a second chart with the same title is refused, not silently overwritten
    at.button(key="cb_new").click().run()
    at.multiselect(key="cb_ms_dims").set_value(["垃圾类型"]).run()
    at.multiselect(key="cb_ms_measures").set_value(["记录数"]).run()
    at.text_input(key="cb_title").input("各区清运量前三").run()
    at.button(key="cb_save").click().run()
    assert any("已有名为「各区清运量前三」" in e.value for e in at.error)
    assert load_spec(path.read_bytes()).dimensions[0].column == "区"

    # a user's chart can be deleted (the shipped defaults cannot: the button stays disabled)
    at.selectbox(key="cb_pick").select("各区清运量前三").run()
    at.button(key="cb_delete").click().run()
    _ok(at)
    assert any("已删除图表「各区清运量前三」" in s.value for s in at.success)
    assert not path.exists()
    assert "各区清运量前三" not in at.selectbox(key="cb_pick").options


def test_drag_board_fills_the_same_wells(db: Path) -> None:
    at = _page()
    at.selectbox(key="cb_ds").select("热线工单").run()
    rev = at.session_state["cb_rev"]
    drag_key = f"cb_drag_{rev}"
    assert at.get("component_instance") or at.get("iframe") or drag_key in at.session_state
    fields = [c for c in at.multiselect(key="cb_ms_measures").options if c not in ("区", "记录数")]
    # what the browser component sends after dragging 区 → 维度 and 记录数 → 指标
    at.session_state[drag_key] = [
        {"header": "字段", "items": fields}, {"header": "维度", "items": ["区"]},
        {"header": "指标", "items": ["记录数"]}, {"header": "颜色/系列", "items": []},
    ]
    at.run()
    _ok(at)
    assert at.session_state["cb_wells"] == {"维度": ["区"], "指标": ["记录数"], "颜色/系列": []}
    assert at.multiselect(key="cb_ms_dims").value == ["区"]
    assert at.multiselect(key="cb_ms_measures").value == ["记录数"]
    bar = _figure(at)["data"][0]
    assert sorted(bar["x"]) == sorted(DISTRICTS) and sum(bar["y"]) > 10_000

    # 记录数 dragged into 维度 is refused with a message and put back
    rev = at.session_state["cb_rev"]
    at.session_state[f"cb_drag_{rev}"] = [
        {"header": "字段", "items": fields}, {"header": "维度", "items": ["区", "记录数"]},
        {"header": "指标", "items": []}, {"header": "颜色/系列", "items": []},
    ]
    at.run()
    assert not at.exception
    assert at.session_state["cb_wells"]["维度"] == ["区"]


def test_time_grain_series_filter_line(db: Path) -> None:
    at = _page()
    at.selectbox(key="cb_ds").select("环卫清运").run()
    at.multiselect(key="cb_ms_dims").set_value(["日期"]).run()
    at.multiselect(key="cb_ms_measures").set_value(["清运量（吨）"]).run()
    at.selectbox(key="cb_ms_series").select("垃圾类型").run()
    assert at.session_state["cb_grain::日期"] == "月"
    at.multiselect(key="cb_filters").set_value(["区"]).run()
    at.multiselect(key="cb_fv::区").set_value(["临江区"]).run()
    at.selectbox(key="cb_type").select("line").run()
    _ok(at)
    fig = _figure(at)
    assert sorted(t["name"] for t in fig["data"]) == ["其他垃圾", "厨余垃圾", "可回收物", "有害垃圾"]
    assert all(len(t["x"]) == 18 for t in fig["data"])  # 2024-01 … 2025-06
    sql = next(c.value for c in at.code if c.language == "sql")
    assert "DATE_TRUNC('MONTH'" in sql.upper().replace('"', "'") or "date_trunc('month'" in sql
    assert "'临江区'" in sql
    # quarter grain: 6 points per series
    at.segmented_control(key="cb_grain::日期").set_value("季").run()
    assert all(len(t["x"]) == 6 for t in _figure(at)["data"])


def test_open_saved_chart_edit_and_save_changes(db: Path) -> None:
    at = _page()
    at.selectbox(key="cb_pick").select("环卫_各区清运量").run()
    at.button(key="cb_open_btn").click().run()
    _ok(at)
    assert at.session_state["cb_editing"] == "环卫_各区清运量"
    assert at.session_state["cb_wells"]["维度"] == ["区"]
    assert at.text_input(key="cb_title").value == "各区清运量"
    assert at.session_state["cb_fmode::日期"] == "相对时间" and at.session_state["cb_frel::日期"] == "最近7天"
    assert _figure(at)["data"][0]["type"] == "bar"
    at.checkbox(key="cb_opt::horizontal").check().run()
    at.button(key="cb_save_edit").click().run()
    _ok(at)
    saved = load_spec((_charts_dir(db) / "环卫_各区清运量.yaml").read_bytes())
    # the edit is kept, and what the UI does not show (label, format, sort by label) survives
    assert saved.options["horizontal"] is True and saved.options["show_values"] is True
    assert saved.measures[0].label == "清运量" and saved.measures[0].format == ",.1f"
    assert saved.sort is not None and saved.sort.by == "清运量"


def test_pending_open_from_ask_page_kpi_and_map(db: Path) -> None:
    at = AppTest.from_file(str(ROOT / "pages" / "charts.py"), default_timeout=90)
    at.session_state["cb_open"] = "环卫_本月清运量"
    at.run()
    _ok(at)
    assert at.session_state["cb_editing"] == "环卫_本月清运量"
    assert at.session_state["cb_type"] == "kpi"
    assert at.metric and at.metric[0].value.replace(",", "").split()[0].replace(".", "").isdigit()

    at.button(key="cb_new").click().run()
    at.multiselect(key="cb_ms_dims").set_value(["区"]).run()
    at.multiselect(key="cb_ms_measures").set_value(["清运量（吨）"]).run()
    at.selectbox(key="cb_type").select("map").run()
    _ok(at)
    assert at.get("deck_gl_json_chart"), "map type renders a deck"


def test_ask_page_saves_a_good_answer_as_a_chart(db: Path) -> None:
    at = AppTest.from_file(str(ROOT / "pages" / "ask.py"), default_timeout=90).run()
    at.selectbox(key="ask_table").select("环卫清运").run()
    at.text_input(key="ask_q").input("各区的清运量")  # inside a form: sent with the submit
    next(b for b in at.button if b.label == "提问").click().run()
    _ok(at)
    save = next(b for b in at.button if b.label == "保存" and str(b.key).startswith("chart_save_"))
    title_key = save.key.replace("chart_save_", "chart_title_")
    assert at.text_input(key=title_key).value == "各区的清运量"  # the question is the default title
    at.text_input(key=title_key).input("问数：各区清运量").run()
    next(b for b in at.button if str(b.key).startswith("chart_save_")).click().run()
    _ok(at)
    assert any("已保存为图表「问数：各区清运量」" in s.value for s in at.success)
    assert at.session_state["cb_open"] == "问数：各区清运量"
    spec = load_spec((_charts_dir(db) / "问数：各区清运量.yaml").read_bytes())
    # 清运量 is one of the sample city's metrics (SUM of 清运量（吨）): the chart measures the metric
    assert (spec.type, spec.dataset, [d.column for d in spec.dimensions],
            [(m.agg, m.metric) for m in spec.measures]) == ("bar", "环卫清运", ["区"], [("metric", "清运量")])


# every registered chart type renders in the 图表 page from wells a clerk would fill
TYPE_CASES = [
    ("bar", ["区"], ["清运量（吨）"], "plotly_chart"),
    ("line", ["日期"], ["清运量（吨）"], "plotly_chart"),
    ("area", ["日期"], ["清运量（吨）"], "plotly_chart"),
    ("pie", ["垃圾类型"], ["清运量（吨）"], "plotly_chart"),
    ("scatter", ["街道"], ["清运量（吨）", "车次"], "plotly_chart"),
    ("table", ["区"], ["清运量（吨）"], "dataframe"),
    ("pivot", ["区", "+垃圾类型"], ["清运量（吨）"], "dataframe"),  # +: into 颜色/系列 (the pivot's columns)
    ("kpi", [], ["清运量（吨）"], "metric"),
    ("heatmap", ["区", "垃圾类型"], ["清运量（吨）"], "plotly_chart"),
    ("map", ["区"], ["清运量（吨）"], "deck_gl_json_chart"),
]


def test_every_chart_type_is_covered() -> None:
    from citybi.charts.types import all_types

    assert {t.name for t in all_types()} == {c[0] for c in TYPE_CASES}


@pytest.mark.parametrize(("kind", "dims", "measures", "element"), TYPE_CASES, ids=[c[0] for c in TYPE_CASES])
def test_every_chart_type_renders_in_the_page(db: Path, kind: str, dims: list[str], measures: list[str],
                                              element: str) -> None:
    at = _page()
    at.selectbox(key="cb_ds").select("环卫清运").run()
    at.multiselect(key="cb_ms_dims").set_value([d for d in dims if not d.startswith("+")]).run()
    at.multiselect(key="cb_ms_measures").set_value(measures).run()
    for d in dims:
        if d.startswith("+"):
            at.selectbox(key="cb_ms_series").select(d[1:]).run()
    at.selectbox(key="cb_type").select(kind).run()
    _ok(at)
    assert at.get(element), f"{kind}: no {element} in the preview"
