"""Domain colours: the national AQI scale (HJ 633-2012) wherever air-quality levels or AQI are drawn.

Why fixed colours: a city reader knows 优 is green and 重度污染 purple from every weather
report; a pie that paints 优 red (the default palette's fourth colour) reads as an alarm.
Renderers ask here for a category's colours (pie slices, bars, bar series) and for AQI's
background bands (a line of daily AQI) and colour scale (a heatmap); anything that is not
an air-quality level or AQI gets None and keeps the normal palette.

A small table rather than a registry: the levels are set by a national standard and have
no other source. Other domains can add their own (value → colour) table to DOMAINS.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from citybi.charts.spec import Measure

# HJ 633-2012, 表 2: 空气质量指数级别及表示颜色 (RGB given in the standard)
AQI_LEVELS: dict[str, str] = {
    "优": "#00E400",  # 绿色 (0, 228, 0)
    "良": "#FFFF00",  # 黄色 (255, 255, 0)
    "轻度污染": "#FF7E00",  # 橙色 (255, 126, 0)
    "中度污染": "#FF0000",  # 红色 (255, 0, 0)
    "重度污染": "#99004C",  # 紫色 (153, 0, 76)
    "严重污染": "#7E0023",  # 褐红色 (126, 0, 35)
}
# the same levels as data sometimes spells them (一级 … 六级, 中度 …)
_ALIASES: dict[str, str] = {
    "一级": "优", "二级": "良", "三级": "轻度污染", "四级": "中度污染", "五级": "重度污染", "六级": "严重污染",
    "轻度": "轻度污染", "中度": "中度污染", "重度": "重度污染", "严重": "严重污染",
}
# AQI ranges of each level (upper bound inclusive); above 300 is 严重污染
AQI_BANDS: tuple[tuple[float, float, str], ...] = (
    (0, 50, "优"), (50, 100, "良"), (100, 150, "轻度污染"), (150, 200, "中度污染"), (200, 300, "重度污染"),
    (300, 500, "严重污染"),
)
DOMAINS: tuple[dict[str, str], ...] = (AQI_LEVELS,)


def aqi_level(value: Any) -> str | None:
    """The standard level name of a value spelled as a level (优, 三级, 中度…), else None."""
    text = str(value).strip()
    if text in AQI_LEVELS:
        return text
    return _ALIASES.get(text)


def category_colors(values: Sequence[Any]) -> list[str] | None:
    """Fixed colours for a list of categories when every one is an air-quality level, else None."""
    if not values:
        return None
    levels = [aqi_level(v) for v in values]
    if any(lv is None for lv in levels):
        return None
    return [AQI_LEVELS[lv] for lv in levels if lv is not None]


def level_order(values: Sequence[Any]) -> list[int] | None:
    """Positions that put air-quality levels in the standard's order (优 first), else None."""
    levels = [aqi_level(v) for v in values]
    if not values or any(lv is None for lv in levels):
        return None
    rank = {name: i for i, name in enumerate(AQI_LEVELS)}
    return sorted(range(len(values)), key=lambda i: rank[levels[i] or ""])


def is_aqi(m: Measure) -> bool:
    """A measure of the AQI itself (avg/max/min of a column named AQI), not a count of rows."""
    return m.column != "*" and "AQI" in m.column.upper() and m.agg in ("avg", "max", "min")


def aqi_band_shapes(top: float) -> list[dict[str, Any]]:
    """Faint background bands for a y axis of AQI from 0 to `top` (优 green under 50 …).

    Bands stop at `top`: a shape reaching 500 would stretch the axis of a city at AQI 80.
    """
    shapes = []
    for low, high, level in AQI_BANDS:
        if low >= top:
            break
        shapes.append({"type": "rect", "xref": "x domain", "yref": "y", "x0": 0, "x1": 1, "y0": low,
                       "y1": min(high, top), "fillcolor": AQI_LEVELS[level], "opacity": 0.12,
                       "line": {"width": 0}, "layer": "below"})
    return shapes


def aqi_colorscale() -> list[list[Any]]:
    """A stepped colour scale over AQI 0–500 for heatmaps (zmin 0, zmax 500)."""
    scale: list[list[Any]] = []
    for low, high, level in AQI_BANDS:
        colour = AQI_LEVELS[level]
        scale += [[low / 500, colour], [high / 500, colour]]
    return scale
