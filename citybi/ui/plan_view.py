"""The import plan as the pages show it: the summary line, the warnings, the columns and the first rows.

Why one component: 数据导入 (a file) and 数据源 (a database, feed or topic) show a clerk what an
import will write before anything is written, and they must show it the same way — the same
wording, the same type names, the same preview table.
"""
from __future__ import annotations

import polars as pl
import streamlit as st

from citybi.ingest.model import TYPE_LABELS
from citybi.quality import QualityReport
from citybi.ui.state import show_frame
from citybi.usertext import md

PREVIEW_ROWS = 50


def plan_summary(summary: str, warnings: list[str]) -> None:
    st.success(md(summary))
    for warning in warnings:
        st.warning(md(warning))


def plan_columns(columns: list[tuple[str, str, str]]) -> None:
    """Read-only: each column's name, the type it will have, a few values (数据导入 edits its own copy)."""
    st.dataframe(pl.DataFrame({
        "列名": [c[0] for c in columns],
        "类型": [TYPE_LABELS.get(c[1], c[1]) for c in columns],
        "示例": [c[2] for c in columns],
    }, schema={"列名": pl.String, "类型": pl.String, "示例": pl.String}), hide_index=True, width="stretch")


def plan_preview(frame: pl.DataFrame, total: int | None = None) -> None:
    """The first rows as they will be written, under the same 预览 heading on both pages."""
    st.subheader("预览")
    st.caption(f"共 {frame.height if total is None else total} 行，显示前 {min(frame.height, PREVIEW_ROWS)} 行")
    show_frame(frame.head(PREVIEW_ROWS))


def quality_panel(report: QualityReport, *, title: str = "数据质量", note: str = "", expanded: bool = False) -> None:
    """A quality report (citybi.quality): the score and counts in one line, the score's parts, the
    broken rules with their sample rows and Excel row numbers, the dropped and standardised rows.

    Shown by 数据导入 before 导入 and by 数据集 for the current version, the same way."""
    st.markdown(f"**{title}**：{md(report.summary_zh())}")
    if note:
        st.caption(md(note))
    with st.expander(f"质量得分 {report.score} 的明细", expanded=expanded):
        st.dataframe(pl.DataFrame(report.component_rows(), schema={"项目": pl.String, "权重": pl.Int64,
                                                                   "得分": pl.String, "说明": pl.String}),
                     hide_index=True, width="stretch")
        if report.rule_failures:
            st.markdown("**违反校验规则的行**（示例）")
            show_frame(pl.DataFrame(report.failure_rows(), schema={
                "规则": pl.String, "违反行数": pl.Int64, "Excel行号": pl.String, "值": pl.String, "整行": pl.String}))
        if report.dropped_samples:
            st.markdown("**去除的行**（示例）")
            show_frame(pl.DataFrame({"Excel行号": [s.excel_row for s in report.dropped_samples],
                                     "原因": [s.reason for s in report.dropped_samples],
                                     "内容": [s.text for s in report.dropped_samples]}))
        if report.standardised:
            st.markdown("**标准化的值**")
            show_frame(pl.DataFrame({"列": [s.column for s in report.standardised],
                                     "原值": [s.original for s in report.standardised],
                                     "标准值": [s.standard for s in report.standardised],
                                     "行数": [s.rows for s in report.standardised]}))
