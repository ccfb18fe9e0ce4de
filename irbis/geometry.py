"""Box geometry on normalised [x_min, y_min, width, height] boxes (MegaDetector's convention)."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

CLASSIFIER_CROP_MARGIN = 0.15   # context around a box classified, fraction of its long side


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two [x, y, w, h] boxes."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def pixel_box(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """A normalised [x, y, w, h] box or window -> its pixel box (left, upper, right, lower) in a
    width x height image (at least one pixel wide and high: a PIL crop or rectangle)."""
    x, y, w, h = box
    left, upper = round(x * width), round(y * height)
    return left, upper, max(left + 1, round((x + w) * width)), max(upper + 1, round((y + h) * height))


def square_region(size: tuple[int, int], bbox: Sequence[float], margin: float,
                  min_crop: float = 0.0) -> tuple[float, float, float]:
    """(left, top, side) in pixels of the square :func:`square_crop` cuts around a normalised box: the
    box's long side plus ``margin`` on each side (at least ``min_crop`` of the short side, 8 px),
    shifted inside the photo where it fits, centred on it where it does not."""
    W, H = size
    x, y, w, h = bbox[0] * W, bbox[1] * H, bbox[2] * W, bbox[3] * H
    side = max(max(w, h) * (1 + 2 * margin), min_crop * min(W, H), 8.0)
    cx, cy = x + w / 2, y + h / 2
    left = min(max(cx - side / 2, 0.0), W - side) if side <= W else (W - side) / 2
    top = min(max(cy - side / 2, 0.0), H - side) if side <= H else (H - side) / 2
    return left, top, side


def square_crop(im: Image.Image, bbox: Sequence[float], margin: float, min_crop: float, size: int) -> Image.Image:
    """Square crop of ``im`` around a normalised [x, y, w, h] box, with context, resized to ``size``.

    The square is shifted inside the photo where it fits; where it does not, the outside is
    mid-grey (zero after the classifier's normalisation).
    """
    W, H = im.size
    left, top, side = square_region(im.size, bbox, margin, min_crop)
    if left >= 0 and top >= 0 and left + side <= W + 1e-6 and top + side <= H + 1e-6:
        box = (left, top, min(left + side, W), min(top + side, H))
        return im.resize((size, size), Image.Resampling.BICUBIC, box=box)
    scale = size / side
    sx0, sy0 = max(left, 0.0), max(top, 0.0)
    sx1, sy1 = min(left + side, float(W)), min(top + side, float(H))
    out = Image.new("RGB", (size, size), (127, 127, 127))
    dw, dh = max(1, round((sx1 - sx0) * scale)), max(1, round((sy1 - sy0) * scale))
    part = im.resize((dw, dh), Image.Resampling.BICUBIC, box=(sx0, sy0, sx1, sy1))
    out.paste(part, (round((sx0 - left) * scale), round((sy0 - top) * scale)))
    return out


def suppress_contained(dets: list[dict], containment: float) -> list[dict]:
    """Drop a box when, with a more confident box of the same category, one lies mostly
    (>= ``containment`` of its area) inside the other or they overlap with IoU >= 0.5: a head,
    a leg, a group box around an animal already boxed, or a second view of the same animal.
    ``dets`` sorted by conf, best first."""
    kept: list[dict] = []
    for d in dets:
        x, y, w, h = d["bbox"]
        area = max(w * h, 1e-9)
        for k in kept:
            if k["category"] != d["category"]:
                continue
            kx, ky, kw, kh = k["bbox"]
            iw = max(0.0, min(x + w, kx + kw) - max(x, kx))
            ih = max(0.0, min(y + h, ky + kh) - max(y, ky))
            inter = iw * ih
            k_area = max(kw * kh, 1e-9)
            if max(inter / area, inter / k_area) >= containment or inter / (area + k_area - inter) >= 0.5:
                break
        else:
            kept.append(d)
    return kept
