"""The import plan as the pages show it: the summary line, the warnings, the columns and the first rows.

Why one component: 数据导入 (a file) and 数据源 (a database, feed or topic) show a clerk what an
import will write before anything is written, and they must show it the same way — the same
wording, the same type names, the same preview table.
"""
from __future__ import annotations

import polars as pl
import streamlit as st

from citybi.ingest.model import TYPE_LABELS
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
