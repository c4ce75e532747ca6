"""Chart spec YAML: round trip, strict validation, and Chinese messages that say what to fix."""
from __future__ import annotations

import datetime as dt

import pytest
from charts_fixture import DATASET

from citybi.charts.spec import (
    ChartSpec,
    ChartSpecError,
    Dimension,
    Measure,
    ValueFilter,
    check_against,
    dump_spec,
    load_spec,
    with_filters,
)
from citybi.schema import ColumnInfo, DatasetInfo

INFO = DatasetInfo(
    name=DATASET, display_name=DATASET, description="", row_count=8, version=1,
    columns=(
        ColumnInfo("日期", "date", "DATE"), ColumnInfo("区", "text", "VARCHAR"), ColumnInfo("街道", "text", "VARCHAR"),
        ColumnInfo("车型", "text", "VARCHAR"), ColumnInfo("清运量", "number", "DOUBLE", unit="吨"),
        ColumnInfo("车次", "integer", "BIGINT"), ColumnInfo("超时", "boolean", "BOOLEAN"),
        ColumnInfo("年份", "year", "INTEGER"),
    ),
)

BASE = """
title: 各区清运量
dataset: 环卫清运
type: bar
dimensions: [{column: 区}]
measures: [{column: 清运量}]
"""

ROUND_TRIP = [
    BASE,
    """
title: 全部设置
description: 用于检查往返保存
dataset: 环卫清运
type: bar
dimensions: [{column: 日期, grain: 月, label: 月份}]
series: {column: 车型}
measures:
  - {column: 清运量, agg: avg, label: 平均清运量, unit: 吨, format: ",.1f"}
  - {column: "*", agg: ratio, label: 超时率, where: [{op: in, column: 超时, values: [true]}]}
filters:
  - {op: not_in, column: 区, values: [朝阳, 海淀]}
  - {op: between, column: 清运量, min: 1.5}
  - {op: date_range, column: 日期, start: 2024-01-01, end: 2024-06-30}
  - {op: relative, column: 日期, period: 最近30天}
sort: {by: 月份, order: asc}
top_n: 10
options: {horizontal: true, mode: percent, show_values: true}
""",
    """
title: 本周清运量
dataset: 环卫清运
type: kpi
measures: [{column: 清运量}]
options: {date_column: 日期, grain: 周, to_date: true, target: 500, higher_is_better: false, compare: [环比]}
""",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_yaml_round_trip(text: str) -> None:
    spec = load_spec(text)
    again = load_spec(dump_spec(spec))
    assert again == spec
    assert dump_spec(again) == dump_spec(spec)
    assert "\\u" not in dump_spec(spec)  # Chinese is written as Chinese, reviewable in git


def test_round_trip_keeps_types() -> None:
    spec = load_spec(ROUND_TRIP[1])
    assert spec.filters[2].start == dt.date(2024, 1, 1)
    assert spec.measures[1].where[0].values == [True]
    assert spec.typed_options().mode == "percent"


def test_spec_built_in_code_with_minimal_fields() -> None:
    spec = ChartSpec(title="各区清运量", dataset=DATASET, type="bar", dimensions=[Dimension(column="区")],
                     measures=[Measure(column="清运量", agg="sum")])
    assert spec == load_spec(BASE)


def _swap(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BASE + "colour: 区\n", "图表定义中有不认识的设置项「colour」，请删除或检查拼写"),
        (_swap("{column: 清运量}", "{column: 清运量, aggregate: sum}"), "第1个指标中有不认识的设置项「aggregate」"),
        (BASE + "options: {stacked: true}\n", "图表选项中有不认识的设置项「stacked」"),
        (BASE + "filters: [{op: in, column: 区, values: [a], min: 1}]\n", "第1个筛选条件中有不认识的设置项「min」"),
        (_swap("{column: 清运量}", "{column: 清运量, agg: total}"),
         "第1个指标的聚合方式「total」无效，可选：sum（合计）、avg（平均）、count（计数）、count_distinct（去重计数）"),
        (_swap("{column: 区}", "{column: 日期, grain: 旬}"), "第1个维度的时间粒度「旬」无效，可选：日、周、月、季、年"),
        (BASE + "filters: [{op: like, column: 区, values: [a]}]\n", "第1个筛选条件的筛选方式「like」无效"),
        (BASE + "filters: [{column: 区, values: [a]}]\n", "第1个筛选条件缺少筛选方式 op"),
        (BASE.replace("title: 各区清运量\n", ""), "缺少必填项：标题"),
        (_swap("type: bar", "type: radar"), "图表类型「radar」不存在，可选：bar（柱状图）"),
        (BASE + "filters: [{op: relative, column: 日期, period: 上个世纪}]\n", "相对时间「上个世纪」无法识别"),
        (BASE + "filters: [{op: date_range, column: 日期, start: 2024-13-01}]\n",
         "第1个筛选条件的开始日期应为日期（如 2024-01-31），「2024-13-01」无法识别"),
        (BASE + "filters: [{op: between, column: 清运量, min: 5, max: 1}]\n", "min（5）大于 max（1），请对调"),
        (BASE + "top_n: 0\n", "前N名超出允许范围"),
        (BASE + "top_n: 很多\n", "前N名应为整数"),
        (BASE + "sort: {by: 人数}\n", "排序字段「人数」不是图表中的维度或指标，可选：区、清运量"),
        (_swap("{column: 清运量}", "{column: '*', agg: ratio}"), "占比（ratio）指标需要在 where 中写出分子的条件"),
        (_swap("{column: 清运量}", "{column: '*', agg: sum}"), "「*」（全部记录）只能计数或求占比"),
        (_swap("{column: 清运量}", "{column: 清运量, format: '%.2f'}"), "数字格式「%.2f」无效"),
        (_swap("[{column: 清运量}]", "[{column: 清运量}, {column: 清运量}]"), "有多个字段的显示名称都是「清运量」"),
        (_swap("type: bar", "type: pie").replace("[{column: 清运量}]", "[{column: 清运量}, {column: 车次}]"),
         "饼图/环形图需要 1 个指标（现在有 2 个）"),
        (_swap("type: bar", "type: kpi"), "指标卡需要 0 个维度（现在有 1 个）"),
        (_swap("type: bar", "type: kpi").replace("dimensions: [{column: 区}]\n", ""),
         "缺少必填项：图表选项的「date_column」"),
        (_swap("type: bar", "type: pivot"), "透视表需要设置颜色/系列（series）维度"),
        ("title: [", "图表定义不是有效的 YAML（第 1 行第 9 列）"),
        ("- a\n- b\n", "图表定义应为「键: 值」形式的设置"),
    ],
)
def test_invalid_spec_is_refused_in_chinese(text: str, message: str) -> None:
    with pytest.raises(ChartSpecError) as err:
        load_spec(text)
    assert message in err.value.message
    assert err.value.message.startswith("图表设置有误：")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_swap("{column: 区}", "{column: 区县}"),
         "第1个维度中的列「区县」在数据集「环卫清运」中不存在，请从已有列中选择：日期、区"),
        (_swap("{column: 清运量}", "{column: 人数}"), "第1个指标中的列「人数」在数据集「环卫清运」中不存在"),
        (BASE + "filters: [{op: in, column: 区县, values: [东城]}]\n",
         "筛选条件中的列「区县」在数据集「环卫清运」中不存在"),
        (_swap("{column: 清运量}", "{column: 街道, agg: sum}"),
         "第1个指标「街道」不是数值列，不能求合计，请改用 计数（count）或 去重计数（count_distinct），或选择数值列"),
        (_swap("{column: 清运量}", "{column: 街道, agg: avg}"), "第1个指标「街道」不是数值列，不能求平均"),
        (_swap("{column: 区}", "{column: 区, grain: 月}"),
         "第1个维度「区」不是日期列，不能设置时间粒度「月」，请去掉 grain 或换一个日期列"),
        (_swap("{column: 区}", "{column: 年份, grain: 月}"), "第1个维度「年份」是年份列，只能按「年」汇总"),
        (BASE + "series: {column: 车次, grain: 周}\n", "颜色/系列「车次」不是日期列"),
        (BASE + "filters: [{op: between, column: 区, min: 1}]\n", "筛选条件「区」不是数值列，不能按数值范围筛选"),
        (BASE + "filters: [{op: relative, column: 区, period: 本月}]\n",
         "筛选条件「区」不是日期列，不能按日期范围筛选"),
        (BASE + "filters: [{op: in, column: 车次, values: [三]}]\n", "筛选条件「车次」是数值列，值「三」不是数字"),
        (_swap("dataset: 环卫清运", "dataset: 热线"), "图表使用的数据集是「热线」，但传入的是「环卫清运」"),
    ],
)
def test_spec_checked_against_dataset(text: str, message: str) -> None:
    spec = load_spec(text)
    with pytest.raises(ChartSpecError) as err:
        check_against(spec, INFO)
    assert message in err.value.message


@pytest.mark.parametrize(
    "text",
    [
        BASE,
        _swap("{column: 区}", "{column: 日期, grain: 季}"),
        _swap("{column: 区}", "{column: 年份, grain: 年}"),
        _swap("{column: 清运量}", "{column: 街道, agg: count_distinct}"),
        _swap("{column: 清运量}", "{column: 日期, agg: max}"),
        BASE + "filters: [{op: in, column: 车次, values: ['3', 4]}, {op: in, column: 超时, values: [是]}]\n",
    ],
)
def test_valid_specs_pass_dataset_check(text: str) -> None:
    check_against(load_spec(text), INFO)  # raises on any problem


def test_with_filters_applies_only_known_columns() -> None:
    spec = load_spec(BASE + "filters: [{op: in, column: 车型, values: [压缩车]}]\n")
    board = [
        {"op": "in", "column": "区", "values": ["东城"]},
        {"op": "in", "column": "街道办事处", "values": ["x"]},  # not in this dataset: skipped
        {"op": "relative", "column": "日期", "period": "本月"},
    ]
    out = with_filters(spec, board, INFO)
    assert [f.column for f in out.filters] == ["车型", "区", "日期"]
    assert out.filters[1] == ValueFilter(op="in", column="区", values=["东城"])
    assert spec.filters[0].column == "车型" and len(spec.filters) == 1  # the saved spec is untouched
    assert with_filters(spec, [{"op": "in", "column": "街道办事处", "values": ["x"]}], INFO) is spec
