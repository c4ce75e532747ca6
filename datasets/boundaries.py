"""District boundary polygons for the invented sample city (清源市), written to boundaries.geojson.

Why generated: the sample city does not exist, so there is no official boundary file to
bundle, yet the 全市一张图 page needs one polygon per district to colour. Like
generate.py, this is deterministic (no randomness beyond a fixed seed, stdlib only), so
regenerating does not churn the committed file.

How: in a local kilometre plane around the city, each district gets the cell of a power
diagram (a Voronoi diagram weighted by the district's 面积) of the district centres
(中心经度/中心纬度 in generate.py), clipped to a convex city outline around those centres.
Cells of a power diagram are convex, do not overlap and together cover the outline. The
edges are then made less geometric by displacing interior points of each edge slightly;
the displacement is keyed by the edge itself, so the two districts sharing a border get
the identical polyline and the partition stays exact.

Run: ``python datasets/boundaries.py [OUT_FILE]`` (default: datasets/boundaries.geojson).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import random
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "boundaries.geojson"
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON_EQUATOR = 111.320
SEED = 20250701
OUTLINE_MARGIN = 1.15  # outline circles are this much larger than the district's equal-area circle
OUTLINE_POINTS = 28  # points per circle feeding the convex hull
WEIGHT = 0.08  # power-diagram weight per km² of 面积: cell areas near 面积, every 网格事件 point inside its 区
JITTER = 0.05  # border displacement, as a share of the edge length
SNAP_KM = 1e-6

Point = tuple[float, float]


def _generator() -> ModuleType:
    # generate.py is a script in a data folder, not a package: load it from its path
    name = "citybi_sample_generator"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / "generate.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(HERE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------- planar geometry
def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def convex_hull(points: list[Point]) -> list[Point]:
    """Counter-clockwise hull (Andrew's monotone chain), no repeated end point."""
    pts = sorted(set(points))
    lower: list[Point] = []
    for p in pts:
        while len(lower) >= 2 and _cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[Point] = []
    for p in reversed(pts):
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def clip_half_plane(poly: list[Point], a: float, b: float, c: float) -> list[Point]:
    """Keep the part of a convex polygon where a·x + b·y ≤ c (Sutherland–Hodgman, one edge)."""
    out: list[Point] = []
    n = len(poly)
    for i in range(n):
        p, q = poly[i], poly[(i + 1) % n]
        fp, fq = a * p[0] + b * p[1] - c, a * q[0] + b * q[1] - c
        if fp <= 0:
            out.append(p)
        if (fp < 0 < fq) or (fq < 0 < fp):
            t = fp / (fp - fq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def polygon_area(ring: list[Point]) -> float:
    """Signed area (positive when counter-clockwise); the ring may or may not repeat its start."""
    pts = ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else ring
    return sum(pts[i][0] * pts[(i + 1) % len(pts)][1] - pts[(i + 1) % len(pts)][0] * pts[i][1]
               for i in range(len(pts))) / 2


def point_in_polygon(p: Point, ring: list[Point]) -> bool:
    """Even-odd rule; `ring` may repeat its first point at the end."""
    inside = False
    pts = ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else ring
    n = len(pts)
    for i in range(n):
        (x1, y1), (x2, y2) = pts[i], pts[(i + 1) % n]
        if (y1 > p[1]) != (y2 > p[1]):
            x = x1 + (p[1] - y1) * (x2 - x1) / (y2 - y1)
            if p[0] < x:
                inside = not inside
    return inside


def _segments_cross(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    return ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4)


def is_simple(ring: list[Point]) -> bool:
    """No two non-adjacent edges cross (the ring repeats its first point at the end)."""
    pts = ring[:-1]
    n = len(pts)
    edges = [(pts[i], pts[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # first and last edges share the start point
            if _segments_cross(*edges[i], *edges[j]):
                return False
    return len(set(pts)) == n


# ---------------------------------------------------------------------------- the partition
class _Plane:
    """Degrees ↔ a local plane in kilometres (equirectangular around the city's middle)."""

    def __init__(self, lon0: float, lat0: float) -> None:
        self.lon0, self.lat0 = lon0, lat0
        self.kx = KM_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat0))

    def to_km(self, lon: float, lat: float) -> Point:
        return ((lon - self.lon0) * self.kx, (lat - self.lat0) * KM_PER_DEG_LAT)

    def to_deg(self, p: Point) -> tuple[float, float]:
        return (round(self.lon0 + p[0] / self.kx, 6), round(self.lat0 + p[1] / KM_PER_DEG_LAT, 6))


def power_cells(sites: list[Point], weights: list[float], outline: list[Point]) -> list[list[Point]]:
    """Each site's power cell inside the convex outline: |x−s_i|² − w_i ≤ |x−s_j|² − w_j for all j."""
    cells = []
    for i, (si, wi) in enumerate(zip(sites, weights, strict=True)):
        cell = list(outline)
        for j, (sj, wj) in enumerate(zip(sites, weights, strict=True)):
            if i == j:
                continue
            # expand the inequality: 2(s_j − s_i)·x ≤ |s_j|² − |s_i|² − w_j + w_i
            a, b = 2 * (sj[0] - si[0]), 2 * (sj[1] - si[1])
            c = (sj[0] ** 2 + sj[1] ** 2) - (si[0] ** 2 + si[1] ** 2) - wj + wi
            cell = clip_half_plane(cell, a, b, c)
        cells.append(cell)
    return cells


def _snap(cells: list[list[Point]]) -> list[list[Point]]:
    """Merge vertices closer than SNAP_KM so neighbours share the very same corner objects."""
    canon: list[Point] = []
    out = []
    for cell in cells:
        ring: list[Point] = []
        for p in cell:
            found = next((q for q in canon if abs(q[0] - p[0]) < SNAP_KM and abs(q[1] - p[1]) < SNAP_KM), None)
            if found is None:
                canon.append(p)
                found = p
            if not ring or ring[-1] != found:
                ring.append(found)
        if len(ring) > 1 and ring[0] == ring[-1]:
            ring.pop()
        out.append(ring)
    return out


def _edge_points(a: Point, b: Point) -> list[Point]:
    """Interior points of the border a→b, identical (reversed) for b→a."""
    forward = a <= b
    p, q = (a, b) if forward else (b, a)
    length = math.dist(p, q)
    steps = max(2, min(8, round(length / 2.5)))
    key = f"{p[0]:.6f},{p[1]:.6f};{q[0]:.6f},{q[1]:.6f}".encode()
    rng = random.Random(SEED ^ int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))
    nx, ny = (-(q[1] - p[1]) / length, (q[0] - p[0]) / length) if length else (0.0, 0.0)
    pts = []
    for k in range(1, steps):
        t = k / steps
        off = rng.uniform(-1, 1) * JITTER * length * math.sin(math.pi * t)
        pts.append((p[0] + t * (q[0] - p[0]) + off * nx, p[1] + t * (q[1] - p[1]) + off * ny))
    return pts if forward else pts[::-1]


def _roughen(ring: list[Point]) -> list[Point]:
    out: list[Point] = []
    for i, a in enumerate(ring):
        b = ring[(i + 1) % len(ring)]
        out.append(a)
        out.extend(_edge_points(a, b))
    return out


def build_boundaries() -> dict:
    """The FeatureCollection: one Polygon per district, properties 区/name/centre/area."""
    gen = _generator()
    districts = gen.DISTRICTS
    names = list(districts)
    lons = [districts[n][4] for n in names]
    lats = [districts[n][5] for n in names]
    plane = _Plane((min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2)
    sites = [plane.to_km(districts[n][4], districts[n][5]) for n in names]
    radii = [math.sqrt(districts[n][1] / math.pi) for n in names]
    ring_pts = [(s[0] + OUTLINE_MARGIN * r * math.cos(2 * math.pi * k / OUTLINE_POINTS),
                 s[1] + OUTLINE_MARGIN * r * math.sin(2 * math.pi * k / OUTLINE_POINTS))
                for s, r in zip(sites, radii, strict=True) for k in range(OUTLINE_POINTS)]
    outline = convex_hull(ring_pts)
    weights = [WEIGHT * districts[n][1] for n in names]
    cells = power_cells(sites, weights, outline)
    for name, site, cell in zip(names, sites, cells, strict=True):
        if len(cell) < 3 or not point_in_polygon(site, cell):
            raise ValueError(f"district {name}: its centre fell outside its cell; lower WEIGHT")
    features = []
    for name, cell in zip(names, _snap(cells), strict=True):
        ring = [plane.to_deg(p) for p in _roughen(cell)]
        ring.append(ring[0])
        if polygon_area(ring) < 0:  # RFC 7946: exterior rings counter-clockwise
            ring.reverse()
        facts = districts[name]
        features.append({
            "type": "Feature",
            "properties": {"区": name, "name": name, "中心经度": facts[4], "中心纬度": facts[5],
                           "面积（平方公里）": facts[1]},
            "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
        })
    return {"type": "FeatureCollection", "name": f"{gen.CITY}区划（虚构）", "features": features}


def dumps(collection: dict) -> str:
    """Stable text: one feature per line, Chinese kept readable."""
    head = {k: v for k, v in collection.items() if k != "features"}
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in collection["features"]]
    head_text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
    return head_text + ',"features":[\n' + ",\n".join(lines) + "\n]}\n"


def write(path: Path = DEFAULT_OUT) -> Path:
    path.write_text(dumps(build_boundaries()), encoding="utf-8")
    return path


def main(argv: list[str]) -> int:
    out = write(Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT)
    print(f"写入 {out}（{out.stat().st_size / 1024:.1f} KB）")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
