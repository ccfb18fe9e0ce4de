"""What ``irbis explain`` writes: per photo a JSON record and a heatmap overlay PNG, and, on
request, the LIME boxes merged into a MegaDetector results file as flagged animal detections.

Every file is written atomically (temp file, fsync, rename).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .atomic import atomic_write
from .formats.md_json import match_entry, read_results, write_results
from .geometry import pixel_box
from .stages.explain import LimeOptions
from .stages.explain_photo import PREVIEW_MAX_SIDE as HEATMAP_MAX_SIDE

LIME_COLOUR, DETECTOR_COLOUR = (255, 230, 0), (0, 220, 255)


def photo_record(res, classes: list[str], options: LimeOptions, review_iou: float) -> dict:
    """The ``<stem>.json`` content: the first view's fields at the top, every box under ``boxes``."""
    rec = {"file": res.file, "path": res.path}
    if res.failure:
        return {**rec, "failure": res.failure}
    views = [v.as_dict(classes, review_iou) for v in res.views]
    main = res.views[0]
    W, H = res.size
    x0, y0, x1, y1 = main.view
    rec.update({"class": views[0]["class"], "probability": views[0]["probability"], "r2": views[0]["r2"],
                "bbox": views[0]["bbox"], "superpixels": views[0]["superpixels"], "weights": views[0]["weights"],
                "view": [round(x0 / W, 4), round(y0 / H, 4), round((x1 - x0) / W, 4), round((y1 - y0) / H, 4)]})
    if main.detection is not None:
        rec["boxes"] = views
        rec["needs_review"] = any(v["needs_review"] for v in views)
    if res.note:
        rec["note"] = res.note
    rec["heatmap"] = f"{res.stem}.png"
    rec["lime"] = options.as_dict()
    return rec


def write_photo(out: Path, res, classes: list[str], options: LimeOptions, review_iou: float,
                heatmap: bool = True) -> None:
    rec = photo_record(res, classes, options, review_iou)
    if heatmap and not res.failure:
        overlay = heatmap_overlay(res.image, res.views, res.size)
        atomic_write(out / f"{res.stem}.png", lambda fh: overlay.save(fh, format="PNG"))
    elif "heatmap" in rec:
        rec.pop("heatmap")
    atomic_write(out / f"{res.stem}.json", lambda fh: json.dump(rec, fh, indent=1), text=True)


def heatmap_overlay(image: Image.Image, views, photo_size: tuple[int, int] | None = None) -> Image.Image:
    """The photo (long side <= 1024 px) with each view's superpixel weights laid over it (red:
    evidence for the class, blue: against), the LIME box (yellow) and the detector box (cyan).

    ``image`` may be a smaller preview of the photo; ``photo_size`` is the photo's own size, in
    whose pixels the views' regions are given (default: ``image.size``)."""
    photo_size = photo_size or image.size
    scale = min(1.0, HEATMAP_MAX_SIDE / max(photo_size))
    size = (max(1, round(photo_size[0] * scale)), max(1, round(photo_size[1] * scale)))
    base = image.resize(size, Image.Resampling.BILINEAR).convert("RGBA")
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    for v in views:
        heat = v.explanation.heatmap()
        m = float(np.abs(heat).max()) or 1.0
        rgba = np.zeros(heat.shape + (4,), np.uint8)
        rgba[..., 0] = np.where(heat > 0, 255, 0)
        rgba[..., 2] = np.where(heat < 0, 255, 0)
        rgba[..., 3] = np.clip(170 * np.abs(heat) / m, 0, 255).astype(np.uint8)
        x0, y0, x1, y1 = (c * scale for c in v.view)
        w, h = max(1, round(x1 - x0)), max(1, round(y1 - y0))
        patch = Image.fromarray(rgba, "RGBA").resize((w, h), Image.Resampling.NEAREST)
        layer.alpha_composite(_clip_patch(patch, round(x0), round(y0), size), dest=(max(0, round(x0)),
                                                                                    max(0, round(y0))))
    out = Image.alpha_composite(base, layer).convert("RGB")
    draw = ImageDraw.Draw(out)
    width = max(2, round(max(size) / 300))
    for v in views:
        if v.detection is not None:
            draw.rectangle(pixel_box(v.detection["bbox"], *size), outline=DETECTOR_COLOUR, width=width)
        if v.bbox:
            draw.rectangle(pixel_box(v.bbox, *size), outline=LIME_COLOUR, width=width)
            e = v.explanation
            x, y = pixel_box(v.bbox, *size)[:2]
            draw.text((x + 3, max(0, y - 12)), f"p={e.probability:.2f} r2={e.r2:.2f}", fill=LIME_COLOUR)
    return out


def _clip_patch(patch: Image.Image, x: int, y: int, size: tuple[int, int]) -> Image.Image:
    """The part of ``patch`` placed at (x, y) that falls inside an image of ``size``."""
    left, top = max(0, -x), max(0, -y)
    right = min(patch.width, size[0] - x)
    bottom = min(patch.height, size[1] - y)
    return patch.crop((left, top, max(left + 1, right), max(top + 1, bottom)))




def lime_detections(res, classes: list[str], class_ids: dict[str, str]) -> list[dict]:
    """The photo's LIME boxes as MD detections: category animal, the class as classification."""
    dets = []
    for v in res.views:
        if not v.bbox:
            continue
        e = v.explanation
        p = round(float(e.probability), 3)
        dets.append({"category": "1", "conf": p, "bbox": v.bbox,
                     "classifications": [[class_ids[classes[e.target]], p]],
                     "lime": True, "lime_r2": round(float(e.r2), 4)})
    return dets


def merge_into(md_path: str | os.PathLike, results: list, classes: list[str]) -> Path:
    """Add every LIME box to the MD results file ``md_path`` (rewritten atomically).

    Earlier LIME detections of the same photos are replaced, so a re-run does not duplicate
    them. Photos the file does not list are added as new images."""
    doc = read_results(md_path)
    cats = doc.setdefault("classification_categories", {})
    by_name = {name: cid for cid, name in cats.items()}
    next_id = max((int(c) for c in cats if str(c).isdigit()), default=-1) + 1
    for name in classes:
        if name not in by_name:
            cats[str(next_id)] = name
            by_name[name] = str(next_id)
            next_id += 1
    doc["info"].setdefault("classifier", "irbis")
    entries = {im["file"]: im for im in doc["images"]}
    for res in results:
        if res.failure:
            continue
        dets = lime_detections(res, classes, by_name)
        key = match_entry(res.file, entries)
        if key is None:
            entry = {"file": res.file, "detections": []}
            doc["images"].append(entry)
            entries[res.file] = entry
        else:
            entry = entries[key]
            if entry.get("failure"):
                continue
        entry["detections"] = [d for d in entry.get("detections") or [] if not d.get("lime")] + dets
    doc["info"]["irbis_explain"] = "detections with \"lime\": true are LIME boxes (irbis explain), not detector boxes"
    return write_results(md_path, doc)
