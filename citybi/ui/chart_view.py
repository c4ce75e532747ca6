"""Drawing a chart result in Streamlit: plotly figures, pydeck maps and the one KPI card.

Why here and not in each page: the 图表 preview and every 看板 tile show the same outputs,
and a KPI card drawn twice had drifted (the preview showed no target, no colours and no
sparkline). Both pages call `show_output`; the board adds its tile frame (`show_tile`).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import streamlit as st

from citybi.boards import TileRun
from citybi.charts.drill import DrillStep, step_for_points, step_for_region, step_for_row, with_step
from citybi.charts.kpi import KpiValue, period_text
from citybi.charts.render import format_value
from citybi.charts.runner import ChartResult
from citybi.charts.spec import ChartSpec
from citybi.charts.types._base import MISSING
from citybi.ui.locale import PLOTLY_CONFIG as LOCALE_CONFIG
from citybi.usertext import md

COLOR = {True: "green", False: "red", None: "gray"}
PLOTLY_CONFIG: dict[str, Any] = {"displaylogo": False, **LOCALE_CONFIG}  # toolbar and dates in Chinese


def kpi_card(k: KpiValue, title: str, spec: ChartSpec | None, *, target_note: str = "",
             period_note: str = "", compact: bool = False) -> None:
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
    spark = None if compact else k.spark_values()  # a phone: the value and target before any picture
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
        if compact or (c.name == "环比" and delta is not None):
            continue
        base_name = "去年同期" if c.name == "同比" else "上期"
        base = f"{k.text(c.base)}{unit_md}" if c.base is not None else "—"
        lines.append(f"{c.name} :{COLOR[c.good]}[{c.arrow} {k.change_text(c)}]（{base_name} {base}）")
    lines.append(f"{period_text(k.period)}" + (f" · :orange[{md(period_note)}]" if period_note else ""))
    st.markdown("  \n".join(lines))


def table_frame(result: ChartResult, units: dict[str, str] | None = None) -> pl.DataFrame:
    """A table chart's rows as the reader sees them: measures in their format, units in the
    headers, a missing value as "—" (never "None")."""
    spec, frame = result.spec, result.frame
    units = units or {}
    out: dict[str, list[str]] = {}
    for d in spec.group_dimensions:
        if d.name in frame.columns:
            out[d.name] = [MISSING if v is None else str(v) for v in frame.get_column(d.name).to_list()]
    for m in spec.measures:
        if m.name in frame.columns:
            unit = units.get(m.name)
            header = f"{m.name}（{unit}）" if unit and unit not in m.name else m.name
            out[header] = [format_value(v, m.format, ratio=m.agg == "ratio")
                           for v in frame.get_column(m.name).to_list()]
    return pl.DataFrame(out)


def show_output(result: ChartResult, *, key: str, title: str, height: int | None = None,
                target_note: str = "", period_note: str = "",
                on_select: Callable[[], None] | None = None, units: dict[str, str] | None = None,
                compact: bool = False) -> None:
    """The chart itself, whatever its type produced (a figure, a map deck or a KPI value).

    on_select: a board's click handler; a clickable tile's table is drawn as a data grid
    (rows can be picked there, not in a plotly table).
    """
    out = result.output
    if isinstance(out, KpiValue):
        kpi_card(out, title, result.spec, target_note=target_note, period_note=period_note, compact=compact)
    elif result.spec.type == "map":
        if on_select is not None:
            st.pydeck_chart(out, height=height or 420, key=key, on_select=on_select, selection_mode="single-object")
        else:
            st.pydeck_chart(out, height=height or 420, key=key)
    elif result.spec.type == "table" and on_select is not None:
        st.markdown(f"**{md(title)}**")
        st.dataframe(table_frame(result, units), key=key, on_select=on_select, selection_mode="single-row",
                     hide_index=True, height=height or "auto")
    else:
        sizing: dict[str, Any] = {"height": height} if height else {}
        config = {**PLOTLY_CONFIG, "toImageButtonOptions": {"format": "png", "filename": title, "scale": 2}}
        if compact:  # on a phone the toolbar would sit on the title; a tap shows values anyway
            config["displayModeBar"] = False
        if on_select is not None:
            st.plotly_chart(out, key=key, config=config, on_select=on_select, selection_mode="points", **sizing)
        else:
            st.plotly_chart(out, key=key, config=config, **sizing)


def _clicked(widget_key: str, drill_key: str, tile: TileRun) -> None:
    """A click on a board tile (plotly point, map district or table row): one more drill step."""
    state = st.session_state.get(widget_key)
    selection = state.get("selection") if state is not None else None
    result = tile.result
    if not selection or result is None or tile.spec is None:
        return
    step: DrillStep | None = None
    if selection.get("points"):
        step = step_for_points(tile.spec, result.frame, selection["points"])
    elif selection.get("rows"):
        step = step_for_row(tile.spec, result.frame, int(selection["rows"][0]))
    elif selection.get("objects"):
        step = step_for_region(tile.spec, result.frame, selection["objects"])
    if step is not None:
        st.session_state[drill_key] = list(with_step(st.session_state.get(drill_key, []), step))


def drop_step(drill_key: str, index: int | None) -> None:
    """Remove one drill step (the breadcrumb's ✕, a chart's 上一级); None removes them all."""
    steps = list(st.session_state.get(drill_key, []))
    st.session_state[drill_key] = [] if index is None else [s for i, s in enumerate(steps) if i != index]


def show_sql(result: ChartResult) -> None:
    """The SQL behind a result, in an expander (analysts check what was asked of the data)."""
    with st.expander("查看 SQL"):
        for qname, sql in result.sql.items():
            if len(result.sql) > 1:
                st.caption("主查询" if qname == "main" else "趋势小图" if qname == "spark" else qname)
            st.code(sql, language="sql")


def show_tile(tile: TileRun, *, leader: bool, height: int | None, drill_key: str | None = None,
              detail: Callable[[TileRun], None] | None = None, compact: bool = False) -> None:
    """One board tile: the chart, its period and caveats, and (not for leaders) timing and SQL.

    drill_key: where the board keeps its drill steps; a click on the chart adds one.
    detail: opens 查看明细 for this tile.
    """
    if tile.result is None:
        st.warning(f"**{md(tile.title)}**：{md(tile.error)}")
        return
    key = f"tile_{tile.index}"
    clickable = drill_key is not None and not isinstance(tile.result.output, KpiValue)
    on_select = (lambda: _clicked(key, drill_key, tile)) if clickable and drill_key is not None else None
    show_output(tile.result, key=key, title=tile.title, height=height,
                target_note=tile.target_note, period_note=tile.period_note, on_select=on_select, units=tile.units,
                compact=compact)
    actions = [a for a in (tile.drill_up is not None and drill_key is not None, detail is not None) if a]
    if actions:
        row = st.container(horizontal=True, gap="small")
        if tile.drill_up is not None and drill_key is not None:
            row.button("上一级", key=f"{key}__up", icon=":material/arrow_upward:", type="tertiary",
                       on_click=drop_step, args=(drill_key, tile.drill_up))
        if detail is not None and row.button("查看明细", key=f"{key}__detail", icon=":material/table_rows:",
                                             type="tertiary"):
            detail(tile)
    if tile.period is not None and not isinstance(tile.result.output, KpiValue):
        st.caption(tile.period_text + (f" · :orange[{tile.period_note}]" if tile.period_note else ""))
    for w in tile.result.warnings:
        st.caption(md(w))
    if tile.not_taken_text:
        st.caption(md(tile.not_taken_text))
    if not leader and not compact:  # a phone shows the numbers; timing and SQL are for the desk
        source = "缓存" if tile.result.cached else f"查询 {tile.result.query_s * 1000:.0f} ms"
        st.caption(f"{source} · 共 {tile.seconds * 1000:.0f} ms")
        show_sql(tile.result)
