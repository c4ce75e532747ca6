"""Drawing a chart result in Streamlit: plotly figures, pydeck maps and the one KPI card.

Why here and not in each page: the 图表 preview and every 看板 tile show the same outputs,
and a KPI card drawn twice had drifted (the preview showed no target, no colours and no
sparkline). Both pages call `show_output`; the board adds its tile frame (`show_tile`).
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from citybi.boards import TileRun
from citybi.charts.kpi import KpiValue, period_text
from citybi.charts.runner import ChartResult
from citybi.charts.spec import ChartSpec
from citybi.usertext import md

COLOR = {True: "green", False: "red", None: "gray"}
PLOTLY_CONFIG: dict[str, Any] = {"displaylogo": False}


def kpi_card(k: KpiValue, title: str, spec: ChartSpec | None, *, target_note: str = "",
             period_note: str = "") -> None:
    """Value with unit, 环比 as the delta, sparkline, then target, 同比 and the period.

    target_note: where a board's target comes from ("北港区周目标"), or why the card has none
    under the board's filters; a card without an applicable target shows no percentage.
    period_note: the period has fewer days of data than it spans (仅 1 天数据).
    Shares (办结率) read as percentages throughout, their changes in 百分点.
    """
    unit = f" {k.unit}" if k.unit else ""
    # the metric value is plain text; the lines below are Markdown (colour directives), the unit user text
    unit_md = f" {md(k.unit)}" if k.unit else ""
    mom = k.comparison("环比")
    delta, color, arrow = None, "gray", "off"
    if mom is not None and mom.delta is not None and (k.ratio or mom.pct is not None):
        delta = f"环比 {k.change_text(mom)}"
        color = COLOR[mom.good]
        arrow = "up" if mom.arrow == "↑" else ("down" if mom.arrow == "↓" else "off")
    spark = k.spark_values()
    st.metric(md(title), f"{k.value_text}{unit}", delta=delta, delta_color=color, delta_arrow=arrow,
              chart_data=spark or None, chart_type="area",
              help=md(spec.description) if spec is not None and spec.description else None)
    lines: list[str] = []
    if k.target is not None:
        pct = "—" if k.pct_of_target is None else f"{k.pct_of_target:.1%}"
        label = md(target_note) if target_note else "目标"
        lines.append(f"{label} {k.text(k.target)}{unit_md} · 完成 :{COLOR[k.target_met]}[{pct}]")
    elif target_note:
        lines.append(f":gray[{md(target_note)}]")
    for c in k.comparisons:
        if c.name == "环比" and delta is not None:
            continue
        base_name = "去年同期" if c.name == "同比" else "上期"
        base = f"{k.text(c.base)}{unit_md}" if c.base is not None else "—"
        lines.append(f"{c.name} :{COLOR[c.good]}[{c.arrow} {k.change_text(c)}]（{base_name} {base}）")
    lines.append(f"{period_text(k.period)}" + (f" · :orange[{md(period_note)}]" if period_note else ""))
    st.markdown("  \n".join(lines))


def show_output(result: ChartResult, *, key: str, title: str, height: int | None = None,
                target_note: str = "", period_note: str = "") -> None:
    """The chart itself, whatever its type produced (a figure, a map deck or a KPI value)."""
    out = result.output
    if isinstance(out, KpiValue):
        kpi_card(out, title, result.spec, target_note=target_note, period_note=period_note)
    elif result.spec.type == "map":
        st.pydeck_chart(out, height=height or 420, key=key)
    else:
        sizing: dict[str, Any] = {"height": height} if height else {}
        config = {**PLOTLY_CONFIG, "toImageButtonOptions": {"format": "png", "filename": title, "scale": 2}}
        st.plotly_chart(out, key=key, config=config, **sizing)


def show_sql(result: ChartResult) -> None:
    """The SQL behind a result, in an expander (analysts check what was asked of the data)."""
    with st.expander("查看 SQL"):
        for qname, sql in result.sql.items():
            if len(result.sql) > 1:
                st.caption("主查询" if qname == "main" else "趋势小图" if qname == "spark" else qname)
            st.code(sql, language="sql")


def show_tile(tile: TileRun, *, leader: bool, height: int | None) -> None:
    """One board tile: the chart, its period and caveats, and (not for leaders) timing and SQL."""
    if tile.result is None:
        st.warning(f"**{md(tile.title)}**：{md(tile.error)}")
        return
    show_output(tile.result, key=f"tile_{tile.index}", title=tile.title, height=height,
                target_note=tile.target_note, period_note=tile.period_note)
    if tile.period is not None and not isinstance(tile.result.output, KpiValue):
        st.caption(tile.period_text + (f" · :orange[{tile.period_note}]" if tile.period_note else ""))
    for w in tile.result.warnings:
        st.caption(md(w))
    if tile.not_taken_text:
        st.caption(md(tile.not_taken_text))
    if not leader:
        source = "缓存" if tile.result.cached else f"查询 {tile.result.query_s * 1000:.0f} ms"
        st.caption(f"{source} · 共 {tile.seconds * 1000:.0f} ms")
        show_sql(tile.result)
