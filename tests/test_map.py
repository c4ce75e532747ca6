"""全市一张图: the bundled district boundaries, the geo helpers, and the map page (AppTest).

Boundaries: one valid polygon per sample district, none overlapping, regenerated
byte-for-byte. Helpers: which columns are coordinates / district names, bad GeoJSON refused
in Chinese. Page: a deck with the district layer coloured by the chosen measure and the
网格事件 points, nothing that would reach the internet.
"""
from __future__ import annotations

import datetime as dt
import importlib.util
import itertools
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from citybi.catalog import open_warehouse
from citybi.charts.geo import (
    GeoError,
    city_deck,
    coordinate_columns,
    legend_html,
    load_boundaries,
    region_columns,
    region_properties,
)
from citybi.schema import ColumnInfo, DatasetInfo

ROOT = Path(__file__).resolve().parent.parent
GEOJSON = ROOT / "datasets" / "boundaries.geojson"


def _module(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def boundaries() -> ModuleType:
    return _module("citybi_boundaries", ROOT / "datasets" / "boundaries.py")


@pytest.fixture(scope="module")
def districts() -> dict[str, Any]:
    return _module("citybi_sample_generator", ROOT / "datasets" / "generate.py").DISTRICTS


@pytest.fixture(scope="module")
def collection() -> dict[str, Any]:
    return json.loads(GEOJSON.read_text(encoding="utf-8"))


def _ring(feature: dict[str, Any]) -> list[tuple[float, float]]:
    assert feature["geometry"]["type"] == "Polygon"
    rings = feature["geometry"]["coordinates"]
    assert len(rings) == 1  # no holes
    return [(float(x), float(y)) for x, y in rings[0]]


# ---------------------------------------------------------------------------- boundaries
def test_every_district_exactly_once(collection: dict[str, Any], districts: dict[str, Any]) -> None:
    assert collection["type"] == "FeatureCollection"
    names = [f["properties"]["区"] for f in collection["features"]]
    assert sorted(names) == sorted(districts)
    assert len(names) == len(set(names))
    assert all(f["properties"]["name"] == f["properties"]["区"] for f in collection["features"])


def test_polygons_closed_simple_counter_clockwise_around_their_centre(
        collection: dict[str, Any], districts: dict[str, Any], boundaries: ModuleType) -> None:
    for f in collection["features"]:
        name = f["properties"]["区"]
        ring = _ring(f)
        assert ring[0] == ring[-1], name
        assert len(ring) >= 4, name
        assert boundaries.is_simple(ring), f"{name} crosses itself"
        assert boundaries.polygon_area(ring) > 0, f"{name} is not counter-clockwise (RFC 7946)"
        lon, lat = districts[name][4], districts[name][5]
        assert boundaries.point_in_polygon((lon, lat), ring), f"{name}'s centre is outside it"
        assert all(118 < x < 119.5 and 30.5 < y < 31.5 for x, y in ring), name


def test_polygons_do_not_overlap_and_leave_no_holes(collection: dict[str, Any], boundaries: ModuleType) -> None:
    rings = [_ring(f) for f in collection["features"]]
    xs = [p[0] for r in rings for p in r]
    ys = [p[1] for r in rings for p in r]
    n = 120
    covered = overlaps = 0
    for i in range(n):
        for j in range(n):
            p = (min(xs) + (max(xs) - min(xs)) * (i + 0.5) / n, min(ys) + (max(ys) - min(ys)) * (j + 0.5) / n)
            k = sum(boundaries.point_in_polygon(p, r) for r in rings)
            overlaps += k > 1
            covered += k == 1
    assert overlaps == 0
    # the cells tile the whole outline: their areas add up to the area of their union's hull-ish extent
    total = sum(boundaries.polygon_area(r) for r in rings)
    assert covered / (n * n) == pytest.approx(total / ((max(xs) - min(xs)) * (max(ys) - min(ys))), abs=0.01)


def test_shared_borders_are_identical(collection: dict[str, Any]) -> None:
    """Neighbours share whole border polylines: every interior edge appears twice, reversed."""
    edges: dict[tuple[tuple[float, float], tuple[float, float]], int] = {}
    for f in collection["features"]:
        ring = _ring(f)
        for a, b in itertools.pairwise(ring):
            edges[(a, b)] = edges.get((a, b), 0) + 1
    shared = [e for e in edges if (e[1], e[0]) in edges]
    assert len(shared) >= 2 * 6  # six districts in a ring around the centre share many edges
    assert all(count == 1 for count in edges.values())  # no edge repeated in the same direction


def test_generator_reproduces_the_committed_file(boundaries: ModuleType, tmp_path: Path) -> None:
    out = boundaries.write(tmp_path / "b.geojson")
    assert out.read_bytes() == GEOJSON.read_bytes()


# ---------------------------------------------------------------------------- helpers
def _info(*cols: tuple[str, str]) -> DatasetInfo:
    return DatasetInfo(name="t", display_name="t", description="", row_count=1, version=1,
                       columns=tuple(ColumnInfo(n, t, "X") for n, t in cols))


@pytest.mark.parametrize(("cols", "expected"), [
    ((("经度", "number"), ("纬度", "number")), ("经度", "纬度")),
    ((("lon", "number"), ("lat", "number")), ("lon", "lat")),
    ((("Longitude", "number"), ("Latitude", "number")), ("Longitude", "Latitude")),
    ((("中心经度", "number"), ("中心纬度", "number")), ("中心经度", "中心纬度")),
    ((("经度", "text"), ("纬度", "text")), None),  # coordinates typed as text are not used
    ((("经度", "number"),), None),
    ((("区", "text"), ("数量", "integer")), None),
])
def test_coordinate_columns(cols: tuple[tuple[str, str], ...], expected: tuple[str, str] | None) -> None:
    assert coordinate_columns(_info(*cols)) == expected


@pytest.mark.parametrize(("cols", "expected"), [
    ((("区", "text"), ("街道", "text")), ["区"]),
    ((("所属区", "text"), ("区", "text")), ["区", "所属区"]),
    ((("行政区", "text"),), ["行政区"]),
    ((("区", "integer"),), []),
    ((("街道", "text"),), []),
])
def test_region_columns(cols: tuple[tuple[str, str], ...], expected: list[str]) -> None:
    assert region_columns(_info(*cols)) == expected


@pytest.mark.parametrize(("raw", "words"), [
    (b"not json", "不是有效的 GeoJSON"),
    (b'{"type": "Feature"}', "FeatureCollection"),
    (b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},'
     b' "geometry": {"type": "Point", "coordinates": [1, 2]}}]}', "没有多边形"),
    ("\ufeff".encode() + b"\xff\xfe", "不是有效的 GeoJSON"),
])
def test_bad_geojson_refused_in_chinese(raw: bytes, words: str) -> None:
    with pytest.raises(GeoError) as err:
        load_boundaries(raw)
    assert words in err.value.message


def test_bundled_boundaries_load_and_name_property() -> None:
    gj = load_boundaries()
    assert len(gj["features"]) == 6
    assert region_properties(gj)[:2] == ["区", "name"]


def test_deck_is_offline_and_legend_escapes_text() -> None:
    gj = load_boundaries()
    deck = json.loads(city_deck(gj, None, None).to_json())
    assert deck.get("mapProvider") is None
    # pydeck's default-style sentinel: Streamlit then draws no basemap (map_style=None would fetch CARTO)
    assert deck.get("mapStyle") in (None, "__MAP_STYLE__")
    assert "cartocdn" not in json.dumps(deck) and "mapbox" not in json.dumps(deck).lower()
    html = legend_html("<b>x</b>", 1.0, 2.0)
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "无数据" in html


# ---------------------------------------------------------------------------- the page
@pytest.fixture(scope="module")
def sample_db(sample_copy: Callable[[str], Path]) -> Iterator[tuple[Path, dict[str, Any]]]:
    path = sample_copy("map_page")
    wh = open_warehouse(path=path)
    cur = wh.cursor()
    facts = {
        "tons": dict(cur.execute('SELECT "区", SUM("清运量（吨）") FROM "环卫清运" GROUP BY 1').fetchall()),
        "orders": dict(cur.execute('SELECT "区", COUNT(*) FROM "热线工单" GROUP BY 1').fetchall()),
        "events": cur.execute('SELECT COUNT(*) FROM "网格事件" WHERE "经度" IS NOT NULL AND "纬度" IS NOT NULL')
        .fetchone()[0],
        "points": cur.execute('SELECT "区", "经度", "纬度" FROM "网格事件"').fetchall(),
    }
    cur.close()
    wh.close()
    yield path, facts


def _deck(at: AppTest) -> dict[str, Any]:
    decks = at.get("deck_gl_json_chart")
    assert decks, "no deck rendered"
    return json.loads(decks[0].proto.json)


def _layers(deck: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {layer["id"]: layer for layer in deck["layers"]}


def test_map_page_renders_districts_and_points(sample_db: tuple[Path, dict[str, Any]],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path, facts = sample_db
    monkeypatch.setenv("CITYBI_DB", str(path))
    at = AppTest.from_file(str(ROOT / "pages" / "map.py"), default_timeout=90).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    deck = _deck(at)
    assert deck.get("mapStyle") in (None, "__MAP_STYLE__") and deck.get("mapProvider") is None
    layers = _layers(deck)
    assert layers["districts"]["@@type"] == "GeoJsonLayer"
    feats = layers["districts"]["data"]["features"]
    assert len(feats) == 6
    # the biggest district total gets the darkest red, the smallest the palest yellow
    tons = facts["tons"]
    fill = {f["properties"]["区"]: f["properties"]["fill"] for f in feats}
    assert fill[max(tons, key=tons.get)][:3] == [189, 0, 38]
    assert fill[min(tons, key=tons.get)][:3] == [255, 255, 178]
    assert all("清运量（吨）" in f["properties"]["tip"] for f in feats)
    # all 网格事件 points (default: the whole date range)
    assert layers["points"]["@@type"] == "ScatterplotLayer"
    assert len(layers["points"]["data"]) == facts["events"]
    legend = next(m.value for m in at.markdown if "区域颜色" in m.value)
    assert "清运量（吨）" in legend and "网格事件" in legend

    # another dataset's measure: 热线工单 record count; hexagons on, points off
    at.selectbox(key="map_ds").select("热线工单").run()
    at.selectbox(key="map_m::热线工单").select("记录数").run()
    at.checkbox(key="map_hex").check().run()
    at.checkbox(key="map_points").uncheck().run()
    assert not at.exception, at.exception
    layers = _layers(_deck(at))
    orders = facts["orders"]
    assert set(layers) == {"districts", "hexagons", "labels"}
    # district names drawn on the map, with every Chinese glyph in the font atlas (not "@@=" accessors)
    assert sorted(d["text"] for d in layers["labels"]["data"]) == sorted(orders)
    assert set("".join(orders)) <= set(layers["labels"]["characterSet"])
    assert not layers["labels"]["fontFamily"].startswith("@@=")
    tips = {f["properties"]["区"]: f["properties"]["tip"] for f in layers["districts"]["data"]["features"]}
    top = max(orders, key=orders.get)
    assert f"{orders[top]:,}" in tips[top]
    assert len(layers["hexagons"]["data"]) == facts["events"]


def test_map_page_date_range_narrows_both_layers(sample_db: tuple[Path, dict[str, Any]],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path, facts = sample_db
    monkeypatch.setenv("CITYBI_DB", str(path))
    at = AppTest.from_file(str(ROOT / "pages" / "map.py"), default_timeout=90).run()
    june = (dt.date(2025, 6, 1), dt.date(2025, 6, 30))
    at.date_input(key="map_range::环卫清运::日期").set_value(june).run()
    at.date_input(key="map_prange::网格事件::上报时间").set_value(june).run()
    assert not at.exception, at.exception
    layers = _layers(_deck(at))
    n_points = len(layers["points"]["data"])
    assert 0 < n_points < facts["events"] / 10
    tips = [f["properties"]["tip"] for f in layers["districts"]["data"]["features"]]
    assert all("无数据" not in t for t in tips)


def test_sample_event_points_fall_in_their_own_district(sample_db: tuple[Path, dict[str, Any]],
                                                        collection: dict[str, Any], boundaries: ModuleType) -> None:
    """The invented boundaries agree with the invented events: each 网格事件 lies in its 区's polygon."""
    rows = sample_db[1]["points"]
    rings = {f["properties"]["区"]: _ring(f) for f in collection["features"]}
    outside = [(d, x, y) for d, x, y in rows if not boundaries.point_in_polygon((x, y), rings[d])]
    assert len(rows) > 1000
    assert outside == []
