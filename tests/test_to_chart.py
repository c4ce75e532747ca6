"""问数 answer → saved chart: the spec maps field by field, and the chart returns the answer's rows.

Two tables: (1) QuerySpec dicts → the ChartSpec fields we expect (no database), including
every reading that must be refused with a reason; (2) real questions over the sample city
→ the chart, run through run_chart, gives the same rows as the answer did.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from citybi.catalog import Catalog, open_warehouse
from citybi.charts.cache import ResultCache
from citybi.charts.runner import run_chart
from citybi.nlq import answer
from citybi.nlq.to_chart import answer_to_chart, to_chart
from citybi.schema import ColumnInfo, DatasetInfo
from citybi.warehouse import Warehouse

D = dt.date
TODAY = D(2025, 6, 30)  # the sample city's last day


def _spec(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"table": "环卫清运", "kind": "aggregate", "measures": [], "group_by": [],
                            "time_grain": None, "time_column": None, "time_range": None, "filters": [],
                            "order": None, "limit": None, "ratio_filter": None, "select": [], "distinct": False}
    base.update(kw)
    return base


INFO = DatasetInfo(name="环卫清运", display_name="环卫清运", description="", row_count=0, version=1, columns=(
    ColumnInfo("日期", "date", "DATE"), ColumnInfo("区", "text", "VARCHAR"),
    ColumnInfo("清运量（吨）", "number", "DOUBLE", unit="吨"), ColumnInfo("车次", "integer", "BIGINT"),
    ColumnInfo("年度", "year", "INTEGER"), ColumnInfo("受理时间", "timestamp", "TIMESTAMP"),
))
SUM_T = {"column": "清运量（吨）", "agg": "sum"}
M_SUM = [("清运量（吨）", "sum", "清运量（吨）合计")]
BY_QU = [("区", None, None)]


def _fields(spec: Any) -> dict[str, Any]:
    return {
        "type": spec.type,
        "dims": [(d.column, d.grain, d.label) for d in spec.dimensions],
        "series": spec.series.column if spec.series else None,
        "measures": [(m.column, m.agg, m.label) for m in spec.measures],
        "filters": [f.model_dump(exclude_defaults=True) for f in spec.filters],
        "sort": (spec.sort.by, spec.sort.order) if spec.sort else None,
        "top_n": spec.top_n,
        "options": spec.options,
    }


CASES: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    ("groups → bar, time range → date filter",
     _spec(measures=[SUM_T], group_by=["区"], time_column="日期", time_range=("2025-05-01", "2025-05-31")), "bar",
     {"type": "bar", "dims": BY_QU, "series": None, "measures": M_SUM,
      "filters": [{"op": "date_range", "column": "日期", "start": D(2025, 5, 1), "end": D(2025, 5, 31)}],
      "sort": None, "top_n": None, "options": {}}),
    ("top 3 → sort desc + top_n",
     _spec(measures=[SUM_T], group_by=["区"], order="desc", limit=3), "bar",
     {"type": "bar", "dims": BY_QU, "series": None, "measures": M_SUM,
      "filters": [], "sort": ("清运量（吨）合计", "desc"), "top_n": 3, "options": {}}),
    ("month series → line with the answer's 月份 label, count(*)",
     _spec(measures=[{"column": None, "agg": "count"}], time_grain="month", time_column="日期"), "line",
     {"type": "line", "dims": [("日期", "月", "月份")], "series": None, "measures": [("*", "count", "数量")],
      "filters": [], "sort": None, "top_n": None, "options": {}}),
    ("time grain + group → line with a series",
     _spec(measures=[SUM_T], group_by=["区"], time_grain="week", time_column="日期"), "line",
     {"type": "line", "dims": [("日期", "周", "周")], "series": "区", "measures": M_SUM,
      "filters": [], "sort": None, "top_n": None, "options": {}}),
    ("two groups with a limit stay a table (top N rows, not top N categories)",
     _spec(measures=[SUM_T], group_by=["区", "垃圾类型"], order="desc", limit=5), "bar",
     {"type": "table", "dims": [("区", None, None), ("垃圾类型", None, None)], "series": None,
      "measures": M_SUM, "filters": [], "sort": ("清运量（吨）合计", "desc"),
      "top_n": 5, "options": {}}),
    ("scalar over a period → KPI card with that range",
     _spec(measures=[SUM_T], time_column="日期", time_range=("2025-06-01", "2025-06-30")), "number",
     {"type": "kpi", "dims": [], "series": None, "measures": M_SUM, "filters": [],
      "sort": None, "top_n": None,
      "options": {"date_column": "日期", "range": {"start": D(2025, 6, 1), "end": D(2025, 6, 30)},
                  "compare": ["同比", "环比"], "sparkline": 0}}),
    ("scalar without a period → one-cell table; value filters; distinct count",
     _spec(measures=[{"column": "区", "agg": "distinct"}], filters=[{"column": "区", "op": "=", "values": ["临江区"]}]),
     "number",
     {"type": "table", "dims": [], "series": None, "measures": [("区", "count_distinct", "区去重计数")],
      "filters": [{"op": "in", "column": "区", "values": ["临江区"]}], "sort": None, "top_n": None, "options": {}}),
    ("strict > on an integer column → min + 1; <= on a number",
     _spec(measures=[SUM_T], group_by=["区"], filters=[
         {"column": "车次", "op": ">", "values": [3]}, {"column": "清运量（吨）", "op": "<=", "values": [9.5]}]), "bar",
     {"type": "bar", "dims": BY_QU, "series": None, "measures": M_SUM,
      "filters": [{"op": "between", "column": "车次", "min": 4.0},
                  {"op": "between", "column": "清运量（吨）", "max": 9.5}],
      "sort": None, "top_n": None, "options": {}}),
    ("year column range → numeric range on years",
     _spec(measures=[SUM_T], group_by=["区"], time_column="年度", time_range=("2024-01-01", "2025-12-31")), "bar",
     {"type": "bar", "dims": BY_QU, "series": None, "measures": M_SUM,
      "filters": [{"op": "between", "column": "年度", "min": 2024.0, "max": 2025.0}], "sort": None, "top_n": None,
      "options": {}}),
    ("ratio → ratio measure with the condition; percent format",
     _spec(kind="ratio", group_by=["区"],
           ratio_filter={"column": "区", "op": "in", "values": ["临江区"], "text": "临江"}),
     "bar",
     {"type": "bar", "dims": BY_QU, "series": None, "measures": [("*", "ratio", "临江占比")],
      "filters": [], "sort": None, "top_n": None, "options": {}}),
    ("distinct list → table of dimensions",
     _spec(kind="list", select=["区"], distinct=True), "table",
     {"type": "table", "dims": BY_QU, "series": None, "measures": [], "filters": [], "sort": None,
      "top_n": None, "options": {}}),
]


@pytest.mark.parametrize(("name", "qspec", "chart", "expected"), CASES, ids=[c[0] for c in CASES])
def test_spec_maps_field_by_field(name: str, qspec: dict[str, Any], chart: str, expected: dict[str, Any]) -> None:
    spec, reason = to_chart(qspec, chart=chart, title="测试", info=INFO)
    assert reason == ""
    assert spec is not None
    assert _fields(spec) == expected
    assert spec.title == "测试" and spec.dataset == "环卫清运"


REFUSED: list[tuple[dict[str, Any], str]] = [
    (_spec(measures=[{"column": "清运量（吨）", "agg": "per_day"}], group_by=["区"]), "日均"),
    (_spec(kind="diff", measures=[SUM_T], diff_column="区", diff_values=["临江区", "云湖区"]), "差额"),
    (_spec(kind="nested_top", measures=[SUM_T], group_by=["区"]), "两步"),
    (_spec(kind="lookup", select=["区"]), "明细"),
    (_spec(kind="list", select=["区", "日期"]), "明细列表"),
    (_spec(measures=[{"column": "清运量（吨）", "agg": "none"}]), "没有汇总"),
    (_spec(measures=[SUM_T], filters=[{"column": "受理时间", "op": ">", "values": ["2025-06-01"]}]), "按时刻"),
    ({"kind": "aggregate"}, "不完整"),
]


@pytest.mark.parametrize(("qspec", "words"), REFUSED, ids=[w for _q, w in REFUSED])
def test_refused_with_a_chinese_reason(qspec: dict[str, Any], words: str) -> None:
    spec, reason = to_chart(qspec, chart="bar", title="测试", info=INFO)
    assert spec is None
    assert words in reason


def test_unsuccessful_answer_is_refused() -> None:
    from citybi.nlq.model import Answer

    spec, reason = answer_to_chart(Answer(status="unsupported", message="x"), title="问题")
    assert spec is None and "成功回答" in reason


# ---------------------------------------------------------------------------- same rows as the answer
@pytest.fixture(scope="module")
def sample_wh(sample_copy: Callable[[str], Path]) -> Iterator[Warehouse]:
    wh = open_warehouse(path=sample_copy("to_chart"))
    yield wh
    wh.close()


QUESTIONS: list[tuple[str, str]] = [
    ("上个月各区的清运量", "bar"),
    ("清运量最多的3个区", "bar"),
    ("今年每月的工单数量", "line"),
    ("今年每月各区的工单数量", "bar"),
    ("2025年5月各区各垃圾类型的清运量", "bar"),
    ("上周每天的清运量", "line"),
    ("各区来源渠道为电话的工单占比", "bar"),
    ("北港区的平均AQI", "table"),
    ("处理时长超过24小时的工单有多少", "table"),
    ("上个月的清运量", "kpi"),
]


def _norm(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, dt.datetime):
        return v.date() if v.time() == dt.time() else v
    return v


@pytest.mark.parametrize(("question", "chart_type"), QUESTIONS)
def test_chart_runs_to_the_answers_rows(sample_wh: Warehouse, question: str, chart_type: str) -> None:
    cat = Catalog(sample_wh)
    ans = answer(question, cat.datasets(), sample_wh.run, today=TODAY)
    assert ans.status == "ok", ans.message
    spec, reason = answer_to_chart(ans, title=question, info=cat.get(ans.table))
    assert spec is not None, reason
    assert spec.type == chart_type and spec.title == question
    result = run_chart(sample_wh, spec, today=TODAY, cache=ResultCache(), render=True)
    assert result.output is not None
    got = result.frame.rows()
    if spec.type == "kpi":
        # the card's 本期 is the answer's number
        assert len(ans.rows) == 1 and math.isclose(got[0][0], ans.rows[0][0], rel_tol=1e-9)
        return
    assert result.frame.columns == ans.columns
    want = sorted((tuple(_norm(v) for v in r) for r in ans.rows), key=repr)
    assert sorted((tuple(_norm(v) for v in r) for r in got), key=repr) == want
    if spec.sort is not None:  # ordered answers keep their order
        assert [_norm(r[0]) for r in got] == [_norm(r[0]) for r in ans.rows]
