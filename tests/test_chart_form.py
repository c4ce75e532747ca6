"""ChartForm: the 图表 page's form as data. Saved chart → form → the same chart, and form → spec.

Round trip: every chart shipped in queries/charts and every inline tile spec of the shipped
boards opens in the builder and saves back unchanged (nothing the page cannot edit is lost).
Then a table of forms a clerk fills in → the spec the page previews and saves.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citybi.catalog import Catalog, open_warehouse
from citybi.charts.form import COUNT, ChartForm, FilterRow, RatioCondition, agg_choices, count_field, grain_choices
from citybi.charts.spec import ChartSpec, ChartSpecError, load_spec
from citybi.schema import ColumnInfo, DatasetInfo

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "queries" / "charts").glob("*.yaml"))


@pytest.fixture(scope="module")
def infos(sample_copy: Any) -> Iterator[dict[str, DatasetInfo]]:
    wh = open_warehouse(path=sample_copy("chart_form"))
    try:
        yield {d.name: d for d in Catalog(wh).datasets()}
    finally:
        wh.close()


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_chart_round_trips(path: Path, infos: dict[str, DatasetInfo]) -> None:
    spec = load_spec(path.read_bytes())
    info = infos[spec.dataset]
    form = ChartForm.from_spec(spec, info)
    assert form.to_spec(info) == spec


# a small dataset whose columns cover every field kind
INFO = DatasetInfo(
    name="环卫清运", display_name="环卫清运", description="", row_count=10, version=1,
    columns=(
        ColumnInfo("日期", "date", "DATE"),
        ColumnInfo("月份", "month", "DATE"),
        ColumnInfo("年份", "year", "BIGINT"),
        ColumnInfo("区", "text", "VARCHAR"),
        ColumnInfo("垃圾类型", "text", "VARCHAR"),
        ColumnInfo("清运量", "number", "DOUBLE", unit="吨"),
        ColumnInfo("车次", "integer", "BIGINT"),
        ColumnInfo("是否超时", "boolean", "BOOLEAN"),
    ),
)


@pytest.mark.parametrize(("column", "aggs", "grains"), [
    ("清运量", ["sum", "avg", "max", "min", "count", "count_distinct"], []),
    ("日期", ["count", "count_distinct", "max", "min"], ["日", "周", "月", "季", "年"]),
    ("月份", ["count", "count_distinct", "max", "min"], ["月", "季", "年"]),
    ("年份", ["count", "count_distinct", "max", "min"], []),
    ("区", ["count", "count_distinct"], []),
    (None, ["count", "ratio"], []),
], ids=["number", "date", "month", "year", "text", "row-count"])
def test_choices_per_field_kind(column: str | None, aggs: list[str], grains: list[str]) -> None:
    c = INFO.column(column) if column else None
    assert agg_choices(c) == aggs
    assert grain_choices(c) == grains


def _m(column: str, agg: str, **kw: Any) -> dict[str, Any]:
    return {"column": column, "agg": agg, "label": None, "unit": None, "format": None, "where": [], **kw}


def _d(column: str, grain: str | None = None, label: str | None = None) -> dict[str, Any]:
    return {"column": column, "grain": grain, "label": label}


FORMS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("bar by district, title made up",
     {"dims": ["区"], "measures": ["清运量"]},
     {"title": "各区清运量", "dimensions": [_d("区")], "measures": [_m("清运量", "sum")]}),
    ("row count, date by month by default",
     {"dims": ["日期"], "measures": [COUNT], "type": "line"},
     {"title": "各日期记录数", "type": "line", "dimensions": [_d("日期", "月")], "measures": [_m("*", "count")]}),
    ("raw dates when the grain is cleared",
     {"dims": ["日期"], "measures": ["车次"], "grains": {"日期": None}, "aggs": {"车次": "avg"}},
     {"dimensions": [_d("日期")], "measures": [_m("车次", "avg")]}),
    ("an aggregation the field cannot take falls back to its default",
     {"dims": ["区"], "measures": ["垃圾类型"], "aggs": {"垃圾类型": "sum"}},
     {"measures": [_m("垃圾类型", "count")]}),
    ("share of rows with a condition",
     {"dims": ["区"], "measures": [COUNT], "aggs": {COUNT: "ratio"},
      "ratios": {COUNT: RatioCondition(column="垃圾类型", values=["厨余垃圾"])}},
     {"measures": [_m("*", "ratio", where=[{"op": "in", "column": "垃圾类型", "values": ["厨余垃圾"]}])]}),
    ("filters: values excluded, numeric range, relative period; empty rows ignored",
     {"dims": ["区"], "measures": ["清运量"], "filters": [
         FilterRow(column="垃圾类型", mode="values", values=["其他垃圾"], exclude=True),
         FilterRow(column="车次", mode="range", min=2),
         FilterRow(column="日期", mode="relative", period="上月"),
         FilterRow(column="区", mode="values")]},
     {"filters": [{"op": "not_in", "column": "垃圾类型", "values": ["其他垃圾"]},
                  {"op": "between", "column": "车次", "min": 2.0, "max": None},
                  {"op": "relative", "column": "日期", "period": "上月"}]}),
    ("sort, top N and a typed title",
     {"dims": ["区"], "measures": ["清运量"], "sort_by": "清运量", "order": "asc", "top_n": 3,
      "title": " 最少的三个区 "},
     {"title": "最少的三个区", "sort": {"by": "清运量", "order": "asc"}, "top_n": 3}),
    ("KPI without a target drops the empty target",
     {"measures": ["清运量"], "type": "kpi", "options": {"date_column": "日期", "grain": "周", "target": None}},
     {"type": "kpi", "dimensions": [], "options": {"date_column": "日期", "grain": "周"}}),
]


@pytest.mark.parametrize(("case", "form", "expected"), FORMS, ids=[c for c, _f, _e in FORMS])
def test_form_to_spec(case: str, form: dict[str, Any], expected: dict[str, Any]) -> None:
    spec = ChartForm(dataset=INFO.name, **form).to_spec(INFO)
    got = spec.model_dump(mode="json")
    for key, value in expected.items():
        assert got[key] == value, key


def test_labels_units_and_formats_survive_editing() -> None:
    spec = ChartSpec(title="各区清运量", dataset=INFO.name, type="bar",
                     dimensions=[{"column": "日期", "grain": "月", "label": "月份"}],
                     measures=[{"column": "清运量", "agg": "sum", "label": "清运量合计", "unit": "万吨",
                                "format": ",.1f"}])
    form = ChartForm.from_spec(spec, INFO)
    edited = form.model_copy(update={"type": "line"}).to_spec(INFO)
    assert edited.measures[0].label == "清运量合计" and edited.measures[0].unit == "万吨"
    assert edited.dimensions[0].label == "月份"
    # a different grain is a different column: the old label would be wrong, so it goes
    regrained = form.model_copy(update={"grains": {"日期": "年"}}).to_spec(INFO)
    assert regrained.dimensions[0].label is None


def test_count_field_renamed_when_a_column_is_called_that() -> None:
    info = DatasetInfo(name="t", display_name="t", description="", row_count=1, version=1,
                       columns=(ColumnInfo(COUNT, "integer", "BIGINT"), ColumnInfo("区", "text", "VARCHAR")))
    assert count_field(info) == f"{COUNT}（全部行）"
    spec = ChartSpec(title="x", dataset="t", type="bar", dimensions=[{"column": "区"}],
                     measures=[{"column": "*", "agg": "count", "label": "行数"}, {"column": COUNT, "agg": "sum"}])
    form = ChartForm.from_spec(spec, info)
    assert form.measures == [f"{COUNT}（全部行）", COUNT]
    assert form.to_spec(info) == spec


def test_a_form_that_does_not_fit_the_dataset_is_refused_in_chinese() -> None:
    with pytest.raises(ChartSpecError) as err:
        ChartForm(dataset=INFO.name, dims=["街道"], measures=["清运量"]).to_spec(INFO)
    assert "街道" in err.value.message and "不存在" in err.value.message


def test_date_range_filter_round_trips() -> None:
    row = FilterRow(column="日期", mode="date_range", start=dt.date(2025, 6, 1), end=dt.date(2025, 6, 30))
    spec = ChartForm(dataset=INFO.name, dims=["区"], measures=["清运量"], filters=[row]).to_spec(INFO)
    assert ChartForm.from_spec(spec, INFO).filters == [row]


# ---------------------------------------------------------------------------- option widgets from the options model
def _fields(type_name: str, info: DatasetInfo = INFO) -> dict[str, Any]:
    from citybi.charts.form import option_fields
    from citybi.charts.types import get_type

    return {f.key: f for f in option_fields(get_type(type_name).options_model, info)}


@pytest.mark.parametrize(("type_name", "widgets"), [
    ("bar", {"horizontal": ("横向条形", "bool"), "mode": ("多个系列时", "choice"),
             "show_values": ("显示数值", "bool")}),
    ("line", {"markers": ("显示数据点", "bool"), "smooth": ("平滑曲线", "bool")}),
    ("pie", {"donut": ("环形图", "bool"), "show_percent": ("显示百分比", "bool")}),
    ("kpi", {"date_column": ("按哪个日期列计算", "choice"), "grain": ("本期是", "choice"),
             "target": ("目标值（可不填）", "number"), "higher_is_better": ("数值变大是", "choice")}),
    ("map", {"colorscale": ("配色", "choice"), "opacity": ("不透明度", "number")}),
    ("table", {}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_each_type_declares_its_option_widgets(type_name: str, widgets: dict[str, tuple[str, str]]) -> None:
    got = _fields(type_name)
    assert {k: (f.title, f.kind) for k, f in got.items()} == widgets


def test_option_widgets_know_their_choices_labels_and_bounds() -> None:
    kpi = _fields("kpi")
    assert kpi["date_column"].choices == ["日期", "月份"] and kpi["date_column"].default is None
    assert kpi["grain"].label_of("周") == "本周" and kpi["grain"].default == "月"
    assert kpi["higher_is_better"].choices == [True, False]
    assert kpi["higher_is_better"].label_of(False) == "坏事（如投诉量）"
    assert kpi["target"].optional and kpi["target"].default is None
    bar = _fields("bar")
    assert bar["mode"].choices == ["group", "stack", "percent"] and bar["mode"].label_of("percent") == "百分比堆叠"
    scatter = _fields("scatter")["size_max"]
    assert (scatter.integer, scatter.minimum, scatter.maximum, scatter.default) == (True, 4, 120, 40)


def test_a_dataset_without_dates_gets_the_kpi_explanation_instead_of_a_picker() -> None:
    no_dates = DatasetInfo(name="t", display_name="t", description="", row_count=1, version=1,
                           columns=(ColumnInfo("区", "text", "VARCHAR"), ColumnInfo("数量", "integer", "BIGINT")))
    field = _fields("kpi", no_dates)["date_column"]
    assert field.choices == [] and "没有日期列" in (field.empty or "")
