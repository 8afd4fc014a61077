"""A map of the commune without Internet: positions from lat/lon drawn in SVG, tiles only if HQ is given a source.

Why not a map library and OpenStreetMap's tiles: the committee's link may be down exactly when a
technician needs the map, and OpenStreetMap's tile policy forbids bulk downloads. So positions are
projected here (Web Mercator, the projection every tile server uses) onto a plain background sized to
the nodes; when ``ui.map_tile_url`` is configured (a tile server HQ or the province runs), the tiles under
that view are listed and drawn beneath the same positions — the markers do not move when tiles appear.
Pure functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

TILE = 256
MAX_ZOOM = 18
MIN_SPAN_PX = 1.0


def world_px(lat: float, lon: float, zoom: float) -> tuple[float, float]:
    """Web Mercator pixel position at ``zoom`` (the world is 256·2^zoom pixels wide)."""
    lat = max(min(lat, 85.05112878), -85.05112878)
    scale = TILE * 2 ** zoom
    x = (lon + 180.0) / 360.0 * scale
    s = math.sin(math.radians(lat))
    y = (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * scale
    return x, y


@dataclass(frozen=True)
class View:
    zoom: int
    left: float  # world pixel of the view's left edge at ``zoom``
    top: float
    width: int
    height: int

    def place(self, lat: float, lon: float) -> tuple[float, float]:
        x, y = world_px(lat, lon, self.zoom)
        return round(x - self.left, 1), round(y - self.top, 1)


def fit(points: Sequence[tuple[float, float]], width: int = 960, height: int = 560, pad: int = 48) -> View | None:
    """The largest whole zoom at which every (lat, lon) fits inside the view with ``pad`` pixels to spare."""
    if not points:
        return None
    zoom = MAX_ZOOM
    while zoom > 0:
        xs, ys = zip(*(world_px(lat, lon, zoom) for lat, lon in points), strict=True)
        if max(xs) - min(xs) <= width - 2 * pad and max(ys) - min(ys) <= height - 2 * pad:
            break
        zoom -= 1
    xs, ys = zip(*(world_px(lat, lon, zoom) for lat, lon in points), strict=True)
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    return View(zoom, cx - width / 2, cy - height / 2, width, height)


@dataclass(frozen=True)
class Tile:
    href: str
    x: float
    y: float


def tiles(view: View, url_template: str) -> list[Tile]:
    """Tiles covering ``view`` from a ``{z}/{x}/{y}`` URL template (never fetched by HQ: the browser asks)."""
    n = 2 ** view.zoom
    first_x, first_y = int(view.left // TILE), int(view.top // TILE)
    last_x, last_y = int((view.left + view.width) // TILE), int((view.top + view.height) // TILE)
    out = []
    for ty in range(max(first_y, 0), min(last_y, n - 1) + 1):
        for tx in range(first_x, last_x + 1):
            href = url_template.replace("{z}", str(view.zoom)).replace("{x}", str(tx % n)).replace("{y}", str(ty))
            out.append(Tile(href, round(tx * TILE - view.left, 1), round(ty * TILE - view.top, 1)))
    return out


def scale_bar(view: View, lat: float) -> tuple[int, float]:
    """A round distance in metres and its length in pixels, for a scale bar about 100 px long."""
    metres_per_px = 156543.03392 * math.cos(math.radians(lat)) / 2 ** view.zoom
    target = metres_per_px * 100
    nice = 10 ** math.floor(math.log10(target))
    for step in (1, 2, 5, 10):
        if nice * step >= target:
            nice *= step
            break
    return int(nice), round(nice / metres_per_px, 1)
