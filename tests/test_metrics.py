"""The metrics layer as tables: a definition → its value on a small fixture of our own (not the
sample city: other table and column names), definitions that must be refused (→ the Chinese
reason), YAML and CLI round trips, and 问数 questions over the metrics.

Expected values come from plain Python over the fixture rows, never from the code under test.
"""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlglot import exp

from citybi.catalog import Catalog, open_warehouse
from citybi.errors import UserFacingError
from citybi.metrics import MetricError, aggregate_expr, dump_yaml, from_fields, load_yaml, parse_metric
from citybi.nlq import answer

TODAY = dt.date(2024, 6, 15)
# 投诉件: 所属区县 / 处理结果 / 耗时（天）; 片区信息: 区县 / 人口（人） / 占地（平方公里）
COMPLAINTS = [
    ("TS01", dt.date(2024, 5, 3), "甲县", "噪声", "已处理", 2.0),
    ("TS02", dt.date(2024, 5, 9), "甲县", "占道", "已处理", 4.0),
    ("TS03", dt.date(2024, 5, 20), "乙县", "噪声", "处理中", None),
    ("TS04", dt.date(2024, 5, 28), "丙县", "油烟", "已处理", 1.0),
    ("TS05", dt.date(2024, 6, 2), "甲县", "油烟", "处理中", None),
    ("TS06", dt.date(2024, 6, 4), "乙县", "占道", "已处理", 3.0),
    ("TS07", dt.date(2024, 6, 5), "乙县", "噪声", "已处理", 5.0),
    ("TS08", dt.date(2024, 6, 8), "丙县", "噪声", "处理中", None),
    ("TS09", dt.date(2024, 6, 10), "甲县", "占道", "已处理", 6.0),
    ("TS10", dt.date(2024, 6, 12), "丙县", "油烟", "已处理", 2.0),
]
COMPLAINT_COLUMNS = ["件号", "登记日期", "所属区县", "类别", "处理结果", "耗时（天）"]
AREAS = [("甲县", 200_000, 50.0), ("乙县", 100_000, 80.0), ("丙县", 50_000, 25.0)]

METRICS_YAML = """
metrics:
  - {name: 投诉数, dataset: 投诉件, formula: {kind: count}, unit: 件, decimals: 0, synonyms: [投诉量]}
  - name: 已处理数
    dataset: 投诉件
    formula: {kind: count, where: [{column: 处理结果, op: "=", value: 已处理}]}
  - {name: 处理率, dataset: 投诉件, formula: {kind: ratio, numerator: 已处理数, denominator: 投诉数},
     format: percent, decimals: 1}
  - {name: 平均耗时, dataset: 投诉件, formula: {kind: avg, column: 耗时（天）}, unit: 天}
  - {name: 涉及区县数, dataset: 投诉件, formula: {kind: count_distinct, column: 所属区县}}
  - name: 噪声耗时合计
    dataset: 投诉件
    formula: {kind: sum, column: 耗时（天）, where: [{column: 类别, op: in, value: [噪声]}]}
  - name: 每万人投诉数
    dataset: 投诉件
    formula: {kind: per, numerator: 投诉数, dataset: 片区信息, column: 人口（人）, key: 所属区县, by_key: 区县}
    multiplier: 10000
    unit: 件/万人
  - {name: 总人口, dataset: 片区信息, formula: {kind: sum, column: 人口（人）}, unit: 人, synonyms: [人口]}
  - {name: 人口密度, dataset: 片区信息, formula: {kind: per, numerator: 总人口, column: 占地（平方公里）},
     unit: 人/平方公里}
"""


def _rows(district: str | None = None, month: int | None = None) -> list[tuple]:
    return [r for r in COMPLAINTS if (district is None or r[2] == district) and (month is None or r[1].month == month)]


def _done(rows: list[tuple]) -> float:
    return sum(r[4] == "已处理" for r in rows) / len(rows)


def _per10k(district: str) -> float:
    pop = next(p for d, p, _a in AREAS if d == district)
    return len(_rows(district)) / pop * 10_000


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("metrics") / "w.duckdb"
    w = open_warehouse(path=path)
    cat = Catalog(w)
    cat.write("投诉件", pl.DataFrame(COMPLAINTS, schema=COMPLAINT_COLUMNS, orient="row"), units={"耗时（天）": "天"})
    cat.write("片区信息", pl.DataFrame(AREAS, schema=["区县", "人口（人）", "占地（平方公里）"], orient="row"),
              units={"人口（人）": "人", "占地（平方公里）": "平方公里"})
    cat.save_metrics(load_yaml(METRICS_YAML))
    yield w
    w.close()


def _value(wh: Any, name: str) -> Any:
    cat = Catalog(wh)
    ms = {m.name: m for m in cat.metrics()}
    m = ms[name]
    tree = exp.select(aggregate_expr(m, ms).as_("v", quoted=True)).from_(exp.to_table(m.dataset, quoted=True))
    return wh.run(tree).frame.item()


@pytest.mark.parametrize(("metric", "expected"), [
    ("投诉数", 10),
    ("已处理数", 7),
    ("处理率", 0.7),
    ("平均耗时", (2 + 4 + 1 + 3 + 5 + 6 + 2) / 7),
    ("涉及区县数", 3),
    ("噪声耗时合计", sum(r[5] or 0 for r in COMPLAINTS if r[3] == "噪声")),
    ("总人口", 350_000),
    ("人口密度", 350_000 / 155.0),
])
def test_metric_value(wh: Any, metric: str, expected: float) -> None:
    assert _value(wh, metric) == pytest.approx(expected)


def test_cross_table_metric_is_not_a_single_aggregate(wh: Any) -> None:
    with pytest.raises(MetricError, match="另一个数据集「片区信息」"):
        _value(wh, "每万人投诉数")


@pytest.mark.parametrize(("fields", "message"), [
    ({"kind": "sum", "column": "类别"}, "不是数值列"),
    ({"kind": "avg", "column": "时长"}, "没有列「时长」"),
    ({"kind": "count", "where": ["状态=已处理"]}, "没有列「状态」"),
    ({"kind": "ratio", "numerator": "已处理数", "denominator": "不存在的"}, "引用的指标「不存在的」不存在"),
    ({"kind": "ratio", "numerator": "已处理数", "denominator": "总人口"}, "必须和本指标同一个数据集"),
    ({"kind": "per", "numerator": "投诉数", "column": "人口（人）", "by_dataset": "片区信息", "key": "区"},
     "没有列「区」"),
    ({"kind": "per", "numerator": "投诉数", "column": "人口", "by_dataset": "无此表", "key": "所属区县"},
     "数据集「无此表」不存在"),
])
def test_bad_definition_is_refused_in_chinese(wh: Any, fields: dict[str, Any], message: str) -> None:
    cat = Catalog(wh)
    with pytest.raises(MetricError, match=message):
        info = cat.get("投诉件")
        where = fields.pop("where", [])
        m = from_fields(name="新指标", dataset="投诉件", where=where,
                        info=info if not where else None, **fields)
        cat.save_metrics([m])
    assert "新指标" not in {m.name for m in cat.metrics()}


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "x", "dataset": "投诉件", "formula": {"kind": "median", "column": "耗时（天）"}}, "公式类型只能是"),
    ({"name": "x", "dataset": "投诉件", "formula": {"kind": "count"}, "colour": "红"}, "不认识的字段"),
    ({"name": "x", "dataset": "投诉件", "formula": {"kind": "count", "where": [
        {"column": "类别", "op": "in", "value": "噪声"}]}}, "需要一组取值"),
    ({"name": "x", "dataset": "投诉件", "formula": {"kind": "per", "numerator": "投诉数", "column": "人口（人）",
                                                   "dataset": "片区信息"}}, "键列"),
    ({"name": "x", "dataset": "投诉件", "formula": {"kind": "count"}, "multiplier": 0}, "倍数"),
])
def test_malformed_definition(data: dict[str, Any], message: str) -> None:
    with pytest.raises(MetricError, match=message):
        parse_metric(data)


def test_cycle_and_delete_of_a_used_metric_are_refused(wh: Any) -> None:
    cat = Catalog(wh)
    with pytest.raises(MetricError, match="被「处理率、每万人投诉数」引用"):
        cat.delete_metric("投诉数")
    a = parse_metric({"name": "甲", "dataset": "投诉件", "formula": {"kind": "ratio", "numerator": "乙",
                                                                    "denominator": "投诉数"}})
    b = parse_metric({"name": "乙", "dataset": "投诉件", "formula": {"kind": "ratio", "numerator": "甲",
                                                                    "denominator": "投诉数"}})
    with pytest.raises(MetricError, match="循环引用"):
        cat.save_metrics([a, b])
    renamed = parse_metric({"name": "记录数", "dataset": "投诉件", "formula": {"kind": "count"}})
    with pytest.raises(MetricError, match="不能改名"):
        cat.save_metrics([renamed], replace="投诉数")
    assert "投诉数" in {m.name for m in cat.metrics()}


def test_yaml_round_trip(wh: Any) -> None:
    metrics = Catalog(wh).metrics()
    assert load_yaml(dump_yaml(metrics)) == metrics
    with pytest.raises(MetricError, match="重名"):
        load_yaml("metrics:\n- {name: a, dataset: t, formula: {kind: count}}\n"
                  "- {name: a, dataset: t, formula: {kind: count}}\n")
    with pytest.raises(UserFacingError, match="类型标签"):
        load_yaml("!!python/object:os.system {}")


def _ask(wh: Any, q: str, after: Any = None) -> Any:
    cat = Catalog(wh)
    return answer(q, cat.datasets(), lambda t: _Result(wh.run(t).frame), today=TODAY, after=after)


class _Result:
    def __init__(self, frame: pl.DataFrame) -> None:
        self.columns = frame.columns
        self.rows = frame.rows()
        self.truncated = False


# question → (the metric column, {group: value} or a single value); other column names than the sample city
QUESTIONS: list[tuple[str, str, Any]] = [
    ("处理率是多少", "处理率", 0.7),
    ("各区县的处理率", "处理率", {d: _done(_rows(d)) for d, *_ in AREAS}),
    ("处理率最高的区县", "处理率", dict([max(((d, _done(_rows(d))) for d, *_ in AREAS), key=lambda t: t[1])])),
    ("甲县的处理率", "处理率", _done(_rows("甲县"))),
    ("各区县投诉量", "投诉数", {d: len(_rows(d)) for d, *_ in AREAS}),
    ("各区县每万人投诉数", "每万人投诉数", {d: _per10k(d) for d, *_ in AREAS}),
    ("每万人投诉数最高的区县", "每万人投诉数", {"丙县": _per10k("丙县")}),
    ("全部的每万人投诉数", "每万人投诉数", 10 / 350_000 * 10_000),
    ("各区县人口密度", "人口密度", {d: p / a for d, p, a in AREAS}),
    ("本月平均耗时", "平均耗时", (3 + 5 + 6 + 2) / 4),
    ("投诉量最多的区县", "投诉数", {"甲县": 4}),
    ("5月的处理率", "处理率", _done(_rows(month=5))),
    ("噪声的处理率", "处理率", _done([r for r in COMPLAINTS if r[3] == "噪声"])),
    ("各类别的平均耗时", "平均耗时", {k: sum(r[5] for r in COMPLAINTS if r[3] == k and r[5]) /
                                   sum(1 for r in COMPLAINTS if r[3] == k and r[5]) for k in ("噪声", "占道", "油烟")}),
    ("每月的投诉数", "投诉数", {dt.date(2024, 5, 1): len(_rows(month=5)), dt.date(2024, 6, 1): len(_rows(month=6))}),
    ("涉及区县数是多少", "涉及区县数", 3),
    ("甲县的每万人投诉数", "每万人投诉数", _per10k("甲县")),
]


@pytest.mark.parametrize(("question", "column", "expected"), QUESTIONS)
def test_questions_over_metrics(wh: Any, question: str, column: str, expected: Any) -> None:
    a = _ask(wh, question)
    assert a.status == "ok", a.message
    assert column in a.columns, (a.columns, a.reading)
    assert f"指标：{column} = " in a.reading  # the reading names the metric and its formula
    i = a.columns.index(column)
    if isinstance(expected, dict):
        got = {r[0]: r[i] for r in a.rows}
        assert got == pytest.approx(expected)
    else:
        assert len(a.rows) == 1 and a.rows[0][i] == pytest.approx(expected)


def test_reading_units_and_percent(wh: Any) -> None:
    a = _ask(wh, "各区县处理率")
    assert "处理率" in a.percent_columns and "已处理数 ÷ 投诉数" in a.reading and "单位：%" in a.reading
    b = _ask(wh, "各区县人口密度")
    assert "单位：人/平方公里" in b.reading
    c = _ask(wh, "各区县每万人投诉数")
    assert "片区信息" in c.message and "按「所属区县」汇总" in c.message


def test_a_metric_word_before_a_comparison_is_a_row_condition(wh: Any) -> None:
    # 人口超过10万 (人口 is a synonym of the metric 总人口): a condition on the rows' 人口（人）, not the measure
    a = _ask(wh, "人口超过10万的区县有哪些")
    assert a.status == "ok", a.message
    assert [r[0] for r in a.rows] == [d for d, p, _a in AREAS if p > 100_000]


def test_ranking_a_metric_over_an_unnamed_group(wh: Any) -> None:
    a = _ask(wh, "投诉数排名前2的区县")
    assert a.status == "ok", a.message
    counts = sorted((len(_rows(d)) for d, *_ in AREAS), reverse=True)[:2]
    assert [r[a.columns.index("投诉数")] for r in a.rows] == counts and a.rows[0][0] == "甲县"


def test_two_metrics_side_by_side(wh: Any) -> None:
    a = _ask(wh, "各区县处理率和平均耗时")
    assert a.status == "ok", a.message
    assert a.columns == ["所属区县", "处理率", "平均耗时"] and a.percent_columns == ["处理率"]
    assert "处理率 = 已处理数 ÷ 投诉数" in a.reading and "平均耗时 = 耗时（天）平均（单位：天）" in a.reading

    def avg_days(d: str) -> float:
        days = [r[5] for r in _rows(d) if r[5] is not None]
        return sum(days) / len(days)

    assert {r[0]: (r[1], r[2]) for r in a.rows} == {
        d: (pytest.approx(_done(_rows(d))), pytest.approx(avg_days(d))) for d, *_ in AREAS}
    # a two-table metric is a join of its own: asked with another, only the first is computed, and said so
    b = _ask(wh, "各区县每万人投诉数和处理率")
    assert b.status == "ok" and "处理率" not in b.columns and "只计算第一个「每万人投诉数」" in b.message


def test_share_of_a_count_metric(wh: Any) -> None:
    a = _ask(wh, "各区县投诉数占比")
    assert a.status == "ok" and "投诉数占比" in a.percent_columns
    i = a.columns.index("投诉数占比")
    assert {r[0]: r[i] for r in a.rows} == pytest.approx({d: len(_rows(d)) / 10 for d, *_ in AREAS})


def test_period_comparison_of_a_rate_in_points(wh: Any) -> None:
    a = _ask(wh, "上个月的处理率比这个月高多少")
    assert a.status == "ok", a.message
    may, june = _done(_rows(month=5)), _done(_rows(month=6))
    row = dict(zip(a.columns, a.rows[0], strict=True))
    assert row["上个月处理率"] == pytest.approx(may) and row["这个月处理率"] == pytest.approx(june)
    assert row["变化（上个月−这个月，百分点）"] == pytest.approx((may - june) * 100)


def test_follow_up_keeps_the_metric(wh: Any) -> None:
    first = _ask(wh, "上个月各区县的处理率")
    nxt = _ask(wh, "那这个月呢", after=first.spec)
    assert nxt.status == "ok" and "处理率" in nxt.columns
    got = {r[0]: r[nxt.columns.index("处理率")] for r in nxt.rows}
    assert got == pytest.approx({d: _done(_rows(d, 6)) for d, *_ in AREAS})


def test_cross_metric_by_another_grouping_is_refused(wh: Any) -> None:
    a = _ask(wh, "各类别每万人投诉数")
    assert a.status != "ok" and "所属区县" in a.message and not a.rows


def test_cli_round_trip(wh: Any, tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    w = open_warehouse(path=db)
    cat = Catalog(w)
    cat.write("投诉件", pl.DataFrame(COMPLAINTS, schema=COMPLAINT_COLUMNS, orient="row"))
    w.close()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "citybi", "metrics", *args, "--db", str(db)],
                              capture_output=True, text=True, timeout=120)

    add = cli("add", "--name", "投诉数", "--dataset", "投诉件", "--kind", "count", "--unit", "件")
    assert add.returncode == 0, add.stderr
    add = cli("add", "--name", "已处理数", "--dataset", "投诉件", "--kind", "count", "--where", "处理结果=已处理")
    assert add.returncode == 0, add.stderr
    add = cli("add", "--name", "处理率", "--dataset", "投诉件", "--kind", "ratio", "--numerator", "已处理数",
              "--denominator", "投诉数", "--percent")
    assert add.returncode == 0, add.stderr
    bad = cli("add", "--name", "错", "--dataset", "投诉件", "--kind", "sum", "--column", "类别")
    assert bad.returncode != 0 and "不是数值列" in bad.stderr + bad.stdout and "Traceback" not in bad.stderr
    listed = cli("list")
    assert "处理率\t= 已处理数 ÷ 投诉数\t（%）" in listed.stdout
    out = tmp_path / "m.yaml"
    assert cli("export", str(out)).returncode == 0
    assert [m.name for m in load_yaml(out.read_bytes())] == ["处理率", "已处理数", "投诉数"]
    assert cli("remove", "--name", "处理率").returncode == 0
    assert "处理率" not in cli("list").stdout
    imported = cli("import", str(out))
    assert imported.returncode == 0, imported.stderr
    assert "处理率" in cli("list").stdout
    assert json.loads(json.dumps(out.read_text(encoding="utf-8")))  # plain text, reviewable


# ---------------------------------------------------------------------------- charts and KPI cards
def test_chart_builder_offers_metrics_and_the_chart_computes_them(wh: Any) -> None:
    from citybi.charts.form import ChartForm, metric_field
    from citybi.charts.runner import run_chart

    info = Catalog(wh).get("投诉件")
    form = ChartForm(dataset="投诉件", dims=["所属区县"], measures=[metric_field("处理率"), metric_field("投诉数")])
    assert metric_field("处理率") in form.fields(info)
    assert metric_field("每万人投诉数") not in form.fields(info)  # needs a second dataset: 问数 only
    spec = form.to_spec(info)
    assert [(m.agg, m.metric, m.format, m.unit) for m in spec.measures] == [
        ("metric", "处理率", ".1%", "%"), ("metric", "投诉数", ",.0f", "件")]
    assert spec.measures[0].is_ratio and not spec.measures[1].is_ratio
    frame = run_chart(wh, spec, info=info, today=TODAY, render=False).frame
    got = {r["所属区县"]: (r["处理率"], r["投诉数"]) for r in frame.iter_rows(named=True)}
    assert got == {d: (pytest.approx(_done(_rows(d))), len(_rows(d))) for d, *_ in AREAS}
    assert ChartForm.from_spec(spec, info).measures == form.measures  # a saved chart opens with its metrics


@pytest.mark.parametrize(("measure", "message"), [
    ({"agg": "metric", "metric": "不存在"}, "不是数据集「投诉件」的指标"),
    ({"agg": "metric", "metric": "每万人投诉数"}, "图表里暂不能用"),
])
def test_chart_with_an_unknown_or_cross_table_metric_is_refused(wh: Any, measure: dict, message: str) -> None:
    from citybi.charts.spec import ChartSpecError, check_against, spec_from_dict

    spec = spec_from_dict({"title": "t", "dataset": "投诉件", "type": "bar", "dimensions": [{"column": "所属区县"}],
                           "measures": [measure]})
    with pytest.raises(ChartSpecError, match=message):
        check_against(spec, Catalog(wh).get("投诉件"))


def test_kpi_card_on_a_rate_metric_in_percent_and_points(wh: Any) -> None:
    from citybi.charts.runner import run_chart
    from citybi.charts.spec import spec_from_dict

    spec = spec_from_dict({"title": "处理率", "dataset": "投诉件", "type": "kpi",
                           "measures": [{"agg": "metric", "metric": "处理率", "format": ".1%"}],
                           "options": {"date_column": "登记日期", "grain": "月", "sparkline": 0}})
    k = run_chart(wh, spec, info=Catalog(wh).get("投诉件"), today=TODAY).output
    june, may = _done(_rows(month=6)), _done(_rows(month=5))
    assert k.value == pytest.approx(june) and k.value_text == f"{june:.1%}"
    mom = k.comparison("环比")
    assert mom is not None and mom.delta == pytest.approx(june - may)
    assert k.change_text(mom) == f"{(june - may) * 100:+.1f} 个百分点"


def test_a_metric_answer_saves_as_a_chart_computing_the_same(wh: Any) -> None:
    from citybi.charts.runner import run_chart
    from citybi.nlq.to_chart import answer_to_chart

    a = _ask(wh, "各区县处理率")
    spec, reason = answer_to_chart(a, title="各区县处理率", info=Catalog(wh).get("投诉件"))
    assert spec is not None, reason
    assert [(m.agg, m.metric, m.format) for m in spec.measures] == [("metric", "处理率", ".1%")]
    frame = run_chart(wh, spec, info=Catalog(wh).get("投诉件"), today=TODAY, render=False).frame
    assert dict(frame.rows()) == pytest.approx(dict(a.rows))


# ---------------------------------------------------------------------------- the sample city's metrics
def test_sample_city_metrics_fit_the_sample_tables(sample_copy: Any) -> None:
    wh = open_warehouse(path=sample_copy("metrics_sample"))
    try:
        cat = Catalog(wh)
        ms = {m.name: m for m in cat.metrics()}
        from citybi.samples import sample_metrics

        assert set(ms) == {m.name for m in sample_metrics()}

        def sql(q: str) -> Any:
            return wh.run(exp.maybe_parse(q, dialect="duckdb")).frame.item()

        # each metric against a plain query written here over the sample tables
        plain = {
            "办结率": """SELECT AVG(CASE WHEN "办结状态" = '已办结' THEN 1.0 ELSE 0 END) FROM "热线工单" """,
            "平均办理时长": 'SELECT AVG("处理时长（小时）") FROM "热线工单"',
            "清运量": 'SELECT SUM("清运量（吨）") FROM "环卫清运"',
            "人口密度": 'SELECT SUM("常住人口（万人）") * 10000 / SUM("面积（平方公里）") FROM "区县概况"',
            "站日优良率": 'SELECT AVG(CASE WHEN "AQI" <= 100 THEN 1.0 ELSE 0 END) FROM "空气质量"',
            "结案率": """SELECT AVG(CASE WHEN "处置状态" = '已结案' THEN 1.0 ELSE 0 END) FROM "网格事件" """,
        }
        for name, q in plain.items():
            m = ms[name]
            tree = exp.select(aggregate_expr(m, ms).as_("v")).from_(exp.to_table(m.dataset, quoted=True))
            assert wh.run(tree).frame.item() == pytest.approx(sql(q)), name
        infos = cat.datasets()
        per = answer("各区每万人工单数", infos, lambda t: _Result(wh.run(t).frame), today=TODAY)
        expect = wh.run(exp.maybe_parse(
            'SELECT a."区", a.n / b.p FROM (SELECT "区", COUNT(*) AS n FROM "热线工单" GROUP BY 1) a '
            'JOIN (SELECT "区", SUM("常住人口（万人）") AS p FROM "区县概况" GROUP BY 1) b ON a."区" = b."区"',
            dialect="duckdb")).frame.rows()
        i = per.columns.index("每万人工单数")
        assert {r[0]: r[i] for r in per.rows} == pytest.approx(dict(expect))

        def ask(q: str) -> Any:
            return answer(q, infos, lambda t: _Result(wh.run(t).frame), today=TODAY)

        # a metric word never cuts a value in two: 厨余|垃圾清运量 is 清运量 of 厨余垃圾, not all waste
        kitchen = ask("厨余垃圾清运量最多的区")
        assert "垃圾类型 = 厨余垃圾" in kitchen.reading and kitchen.rows == wh.run(exp.maybe_parse(
            """SELECT "区", SUM("清运量（吨）") FROM "环卫清运" WHERE "垃圾类型" = '厨余垃圾' GROUP BY 1
               ORDER BY 2 DESC LIMIT 1""", dialect="duckdb")).frame.rows()
        # 环卫工人人均清运量 is per worker (rules/per.py), not the metric 人均清运量 per resident
        worker = ask("各区环卫工人人均清运量")
        assert "环卫工人数" in worker.reading and "吨/人" in worker.reading, worker.reading
    finally:
        wh.close()
