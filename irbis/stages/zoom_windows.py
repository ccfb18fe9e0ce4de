"""Zoom windows: the 640 px network at 2x zoom on a few parts of a photo instead of a 1280 px pass.

Detector v2 runs YOLOX-tiny again at 1280 px on photos whose 640 px pass found no sure box: it
finds small, far animals, and costs ~640 ms a photo against ~76 ms for the 640 px pass (issue 10,
README "Speed levers of detector v2"). A window half the photo's width and height, letterboxed to
the same 640 px canvas, sees its part of the photo at the 1280 pass's resolution for the cost of
one 640 px pass. Windows go where the 640 px pass already saw something (its raw boxes down to a
low score, best first; a box already inside a window needs none of its own); photos where it saw
nothing get none. Or the whole photo in four overlapping tiles (:func:`tiles`).

Boxes found in a window are mapped back to photo coordinates (:func:`to_photo`); boxes cut by a
window side that is not a side of the photo are dropped (a part of an animal seen whole by the
neighbouring window or the 640 px pass). The caller fuses them with the 640 px boxes as it fuses
the 1280 px ones.

Boxes are MegaDetector-style dicts ``{"category", "conf", "bbox": [x, y, w, h]}`` (normalised);
windows are ``[x, y, w, h]`` normalised to the photo too.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..geometry import pixel_box  # noqa: F401  (windows are cropped with it)


def tiles(size: float = 0.5, per_side: int = 2) -> list[list[float]]:
    """``per_side`` x ``per_side`` windows ``size`` x ``size`` of the photo, evenly spaced from
    corner to corner: with 2 the four corners, overlapping by ``2 * size - 1`` across the middle."""
    starts = [i * (1.0 - size) / max(per_side - 1, 1) for i in range(per_side)]
    return [[x, y, size, size] for y in starts for x in starts]


def plan_windows(dets: Sequence[dict], max_windows: int = 3, floor: float = 0.05, scale: float = 0.5,
                 tile: float = 0.0, per_side: int = 2) -> list[list[float]]:
    """A first pass's raw boxes -> at most ``max_windows`` windows ``scale`` x ``scale`` of the photo.

    Boxes scored >= ``floor`` are visited best first; a box that fits in a window and is not
    already inside one gets a window centred on it (moved inside the photo). Boxes larger than
    a window were seen whole at 640 px and get none. With ``tile`` (a size), the :func:`tiles`
    of that size (``per_side`` along each side) instead, whatever the boxes: the 640 px pass is
    blind to many of the animals the 1280 px pass finds (README, "Speed levers of detector v2")."""
    if tile:
        return tiles(tile, per_side)
    windows: list[list[float]] = []
    for d in sorted(dets, key=lambda d: -d["conf"]):
        if d["conf"] < floor or len(windows) >= max_windows:
            break
        x, y, w, h = d["bbox"]
        if w > scale or h > scale or any(_inside(d["bbox"], win) for win in windows):
            continue
        cx, cy = x + w / 2, y + h / 2
        windows.append([_clamp(cx - scale / 2, scale), _clamp(cy - scale / 2, scale), scale, scale])
    return windows


def to_photo(dets: Sequence[dict], window: Sequence[float], edge: float = 0.01) -> list[dict]:
    """Boxes normalised to a window -> boxes normalised to the photo.

    A box within ``edge`` (of the window's size) of a window side that is not a photo side is
    cut by the window, so dropped."""
    wx, wy, ww, wh = window
    out = []
    for d in dets:
        x, y, w, h = d["bbox"]
        cut = ((x <= edge and wx > 1e-6) or (y <= edge and wy > 1e-6)
               or (x + w >= 1 - edge and wx + ww < 1 - 1e-6) or (y + h >= 1 - edge and wy + wh < 1 - 1e-6))
        if not cut:
            out.append({**d, "bbox": [wx + x * ww, wy + y * wh, w * ww, h * wh]})
    return out


def _inside(box: Sequence[float], window: Sequence[float]) -> bool:
    x, y, w, h = box
    wx, wy, ww, wh = window
    return x >= wx and y >= wy and x + w <= wx + ww and y + h <= wy + wh


def _clamp(start: float, size: float) -> float:
    return min(max(start, 0.0), 1.0 - size)
