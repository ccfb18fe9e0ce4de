"""Offline country outlines for the site map: Natural Earth 1:50m from the vendored npm package
``world-atlas`` (TopoJSON, see static/vendor/world-atlas), decoded here into lon/lat rings."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

TOPOJSON = Path(__file__).parent / "static" / "vendor" / "world-atlas" / "countries-50m.json"


@lru_cache(maxsize=1)
def _rings() -> list[tuple[str, list[tuple[float, float]], tuple[float, float, float, float]]]:
    topo = json.loads(TOPOJSON.read_text())
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:                   # delta-encoded, quantised
        x = y = 0
        pts = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            pts.append((round(x * sx + tx, 4), round(y * sy + ty, 4)))
        arcs.append(pts)

    def ring(idx: list[int]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for i in idx:
            pts = arcs[i] if i >= 0 else arcs[~i][::-1]
            out += pts[1:] if out else pts
        return out

    rings = []
    for g in topo["objects"]["countries"]["geometries"]:
        name = (g.get("properties") or {}).get("name", "")
        polys = [g["arcs"]] if g["type"] == "Polygon" else g["arcs"] if g["type"] == "MultiPolygon" else []
        for poly in polys:
            for r in poly:
                pts = ring(r)
                xs, ys = [p[0] for p in pts], [p[1] for p in pts]
                rings.append((name, pts, (min(xs), min(ys), max(xs), max(ys))))
    return rings


def outlines(bbox: tuple[float, float, float, float]) -> list[dict]:
    """Country rings whose extent meets ``bbox`` (min lon, min lat, max lon, max lat)."""
    x0, y0, x1, y1 = bbox
    return [{"name": n, "ring": pts} for n, pts, (a, b, c, d) in _rings()
            if a <= x1 and c >= x0 and b <= y1 and d >= y0]
