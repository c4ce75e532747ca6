"""A small sanitation table whose every aggregate is easy to work out by hand (chart tests)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from citybi.catalog import Catalog, open_warehouse
from citybi.warehouse import Warehouse

DATASET = "环卫清运"
TODAY = dt.date(2024, 5, 17)  # a Friday; its ISO week runs 2024-05-13 … 2024-05-19

ROWS = [
    # 日期, 区, 街道, 车型, 清运量（吨）, 车次, 超时
    (dt.date(2024, 5, 6), "东城", "东华门", "压缩车", 10.0, 2, False),
    (dt.date(2024, 5, 7), "东城", "景山", "压缩车", 12.0, 3, True),
    (dt.date(2024, 5, 7), "西城", "西长安街", "勾臂车", 8.0, 1, False),
    (dt.date(2024, 5, 13), "西城", "新街口", "压缩车", 6.0, 2, True),
    (dt.date(2024, 4, 15), "朝阳", "建外", "勾臂车", 20.0, 4, False),
    (dt.date(2024, 4, 16), "东城", "东华门", "勾臂车", 5.0, 1, False),
    (dt.date(2023, 5, 8), "西城", "新街口", "压缩车", 7.0, 2, False),
    (dt.date(2024, 5, 14), "朝阳", "建外", "压缩车", 9.0, 3, True),
]
COLUMNS = ["日期", "区", "街道", "车型", "清运量", "车次", "超时"]


def frame(rows: list[tuple] | None = None) -> pl.DataFrame:
    rows = ROWS if rows is None else rows
    return pl.DataFrame([list(c) for c in zip(*rows, strict=True)], schema=COLUMNS, orient="col").with_columns(
        pl.col("车次").cast(pl.Int64))


def make_warehouse(tmp_path: Path) -> Warehouse:
    wh = open_warehouse(path=tmp_path / "charts.duckdb")
    Catalog(wh).write(DATASET, frame(), units={"清运量": "吨", "车次": "次"})
    return wh


def square(name: str, x: float, y: float) -> dict:
    ring = [[x, y], [x + 0.1, y], [x + 0.1, y + 0.1], [x, y + 0.1], [x, y]]
    return {"type": "Feature", "properties": {"name": name}, "geometry": {"type": "Polygon", "coordinates": [ring]}}


GEOJSON = {"type": "FeatureCollection", "features": [
    square("东城", 116.4, 39.9), square("西城", 116.3, 39.9), square("朝阳", 116.5, 39.9), square("海淀", 116.2, 40.0),
]}
