"""Chinese for the words Streamlit and plotly supply themselves.

Why a module: Streamlit has no locale setting. A select box opened for typing shows "Choose an
option", a multiselect offers "Select all", a data grid prints a missing value as "None", and
plotly's toolbar says "Download plot as a png" and ticks dates "Jan 2024" — unless every call
passes its own words. Passing them at each of ~40 call sites (some in pages other people own)
would be forgotten at the 41st, so `use_chinese_defaults()` gives those widgets Chinese
defaults once per process: an explicit argument at a call site still wins.

app.py calls it on every run (it is idempotent); nothing else changes Streamlit's behaviour.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

CHOOSE = "请选择"
CHOOSE_MANY = "请选择（可多选）"
MISSING = "—"  # a missing value as the reader sees it (citybi.charts.types._base.MISSING)

_MONTHS = [f"{i}月" for i in range(1, 13)]
_DAYS = ["星期日", "星期一", "星期二", "星期三", "星期四", "星期五", "星期六"]
# plotly.js reads a locale from its config: the toolbar's hover titles and its date names
PLOTLY_LOCALE: dict[str, Any] = {
    "zh-CN": {
        "dictionary": {
            "Autoscale": "自动缩放", "Box Select": "框选", "Lasso Select": "套索选择", "Pan": "平移",
            "Zoom": "缩放", "Zoom in": "放大", "Zoom out": "缩小", "Reset axes": "还原坐标轴", "Reset": "还原",
            "Reset view": "还原视图", "Reset views": "还原视图", "Reset camera to default": "还原默认视角",
            "Reset camera to last save": "还原上次保存的视角", "Toggle Spike Lines": "显示/隐藏辅助线",
            "Show closest data on hover": "悬停时显示最近的数据", "Compare data on hover": "悬停时比较数据",
            "Toggle show closest data on hover": "切换悬停显示", "Orbital rotation": "轨道旋转",
            "Turntable rotation": "转台旋转", "Download plot as a png": "下载为图片（PNG）",
            "Download plot as a PNG": "下载为图片（PNG）", "Image download succeeded": "图片已下载",
            "Preparing image - this may take a few seconds": "正在生成图片，请稍候",
            "Sorry, there was a problem downloading your image!": "抱歉，下载图片时出了问题",
            "JSON download succeeded": "JSON 已下载",
            "Sorry, there was a problem downloading your JSON file!": "抱歉，下载 JSON 时出了问题",
            "Download plot": "下载图表", "Download plot as JSON": "下载为 JSON", "Share chart...": "分享图表",
            "Draw line": "画线", "Draw open freeform": "画开放曲线", "Draw closed freeform": "画封闭曲线",
            "Draw rectangle": "画矩形", "Draw circle": "画圆", "Erase active shape": "删除所选形状",
            "Double-click to zoom back out": "双击还原", "Taking snapshot - this may take a few seconds":
                "正在生成图片，请稍候", "Snapshot succeeded": "图片已生成",
            "Sorry, there was a problem downloading your snapshot!": "抱歉，下载图片时出了问题",
            "Produced with Plotly.js": "由 Plotly.js 生成", "Click to enter Plot title": "点击输入标题",
            "Click to enter X axis title": "点击输入横轴标题", "Click to enter Y axis title": "点击输入纵轴标题",
            "Click to enter Colorscale title": "点击输入色标标题", "trace": "系列", "new text": "新文字",
        },
        "format": {
            "days": _DAYS, "shortDays": ["周日", "周一", "周二", "周三", "周四", "周五", "周六"],
            "months": _MONTHS, "shortMonths": _MONTHS, "date": "%Y年%-m月%-d日", "decimal": ".",
            "thousands": ",",
        },
    }
}
PLOTLY_CONFIG: dict[str, Any] = {"locale": "zh-CN", "locales": PLOTLY_LOCALE}

_PATCHED = "_citybi_chinese_defaults"


def _with_defaults(method: Callable[..., Any], defaults: Callable[[dict[str, Any]], None]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        defaults(kwargs)
        return method(self, *args, **kwargs)

    setattr(wrapped, _PATCHED, True)
    return wrapped


def _select(kwargs: dict[str, Any]) -> None:
    kwargs.setdefault("placeholder", CHOOSE)


def _multi(kwargs: dict[str, Any]) -> None:
    kwargs.setdefault("placeholder", CHOOSE_MANY)
    # Streamlit's bulk row reads "Select all" / "Select 3 matches"; picking nothing means 全部 on our pages
    kwargs.setdefault("select_all", False)


def _grid(kwargs: dict[str, Any]) -> None:
    kwargs.setdefault("placeholder", MISSING)


def _plotly(kwargs: dict[str, Any]) -> None:
    kwargs["config"] = {**PLOTLY_CONFIG, **(kwargs.get("config") or {})}


WRAPPED: dict[str, Callable[[dict[str, Any]], None]] = {
    "selectbox": _select, "multiselect": _multi, "dataframe": _grid, "data_editor": _grid, "plotly_chart": _plotly,
}


def use_chinese_defaults() -> None:
    """Chinese defaults for Streamlit's select boxes, data grids and plotly charts (idempotent).

    The methods live on DeltaGenerator (st.sidebar, columns, containers call them there); the
    `st.xxx` names were bound to the main container when Streamlit was imported, so they are
    rebound to the wrapped methods too.
    """
    main = st._main  # the container behind st.xxx; there is no public handle to it
    for name, defaults in WRAPPED.items():
        method = getattr(DeltaGenerator, name)
        if not getattr(method, _PATCHED, False):
            setattr(DeltaGenerator, name, _with_defaults(method, defaults))
        setattr(st, name, getattr(main, name))
