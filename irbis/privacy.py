"""Blur people in images irbis writes (thumbnails, crops, copies): ``--blur-people``.

A person box (MegaDetector category "2") grown by a margin is pixelated to a few blocks across and
then Gaussian-blurred, so faces, clothes and gait are gone, not merely softened. Boxes are
MegaDetector's normalised ``[x, y, w, h]`` (top-left origin) on the upright photo.

Example
-------
>>> im = blur_people(Image.open("tourists.jpg"), [{"category": "2", "conf": 0.8, "bbox": [0.4, 0.6, 0.1, 0.3]}])
"""

from __future__ import annotations

from PIL import Image, ImageFilter

PERSON = "2"
MARGIN = 0.25        # box grown by this share of its width / height on every side
BLOCKS = 6           # pixel blocks across the box's short side
MIN_CONF = 0.1       # person boxes from this confidence are blurred (err on the side of privacy)


def person_boxes(detections: list[dict] | None, min_conf: float = MIN_CONF) -> list[list[float]]:
    """Normalised boxes of the person detections (category "2") at or above ``min_conf``."""
    return [d["bbox"] for d in detections or [] if str(d.get("category")) == PERSON
            and float(d.get("conf", 1.0)) >= min_conf]


def pixel_box(box: list[float], size: tuple[int, int], margin: float = MARGIN) -> tuple[int, int, int, int] | None:
    """Normalised [x, y, w, h] grown by ``margin`` -> pixel (x0, y0, x1, y1) clipped to the image."""
    W, H = size
    x, y, w, h = box
    x0, y0 = (x - w * margin) * W, (y - h * margin) * H
    x1, y1 = (x + w * (1 + margin)) * W, (y + h * (1 + margin)) * H
    x0, y0, x1, y1 = max(0, int(x0)), max(0, int(y0)), min(W, int(round(x1 + 0.5))), min(H, int(round(y1 + 0.5)))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def blur_region(im: Image.Image, region: tuple[int, int, int, int], blocks: int = BLOCKS) -> None:
    """Pixelate ``region`` of ``im`` in place to ``blocks`` blocks across its short side, then blur it."""
    x0, y0, x1, y1 = region
    patch = im.crop(region)
    w, h = patch.size
    step = max(1, min(w, h) // blocks)
    small = patch.resize((max(1, w // step), max(1, h // step)), Image.Resampling.BOX)
    patch = small.resize((w, h), Image.Resampling.NEAREST).filter(ImageFilter.GaussianBlur(radius=max(1, step)))
    im.paste(patch, (x0, y0))


def blur_boxes(im: Image.Image, boxes: list[list[float]], margin: float = MARGIN) -> Image.Image:
    """A copy of ``im`` with every normalised box (plus margin) blurred beyond recognition."""
    if not boxes:
        return im
    out = im.copy()
    for b in boxes:
        region = pixel_box(b, out.size, margin)
        if region:
            blur_region(out, region)
    return out


def blur_people(im: Image.Image, detections: list[dict] | None, min_conf: float = MIN_CONF,
                margin: float = MARGIN) -> Image.Image:
    """A copy of ``im`` with the person detections blurred (``im`` itself when there are none)."""
    return blur_boxes(im, person_boxes(detections, min_conf), margin)
