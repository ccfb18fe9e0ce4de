"""``irbis explain``: LIME explanations of a model bundle for photos, or for the detector boxes
the main job classified, with a box around the evidence and its agreement with the detector.

Each photo is decoded once; the network input is prepared once per explained view (the whole
frame as ``irbis predict`` sees it, or the square crop ``irbis run`` classified) and LIME
(:mod:`irbis.stages.explain`) masks that array. Boxes come back in the photo's normalised
coordinates (MegaDetector's [x_min, y_min, width, height]).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .formats.md_json import match_entry
from .geometry import iou, square_region
from .imageio import DRAFT_FACTOR, IMAGE_EXTENSIONS, ImageReadError, Preprocessing, network_input, open_image
from .stages.classify import ClassifierSpec, ImageClassifier
from .stages.crops import CROP_MARGIN, classifier_crop
from .stages.explain import ExplainError, Explanation, LimeOptions, explain

REVIEW_IOU = 0.5     # a detector box whose LIME box overlaps it less than this needs review


def class_index(classifier: ImageClassifier, name: str | None) -> int | None:
    """Index of class ``name``; a clear error for a class the model does not know."""
    if name is None:
        return None
    if name not in classifier.classes:
        raise ExplainError(f"class {name!r} is not in this model; its classes are: " + ", ".join(classifier.classes))
    return classifier.classes.index(name)


# -- where the network's pixels lie in the photo ------------------------------------------------
def centre_crop_view(size: tuple[int, int], prep: Preprocessing) -> tuple[float, float, float, float]:
    """Pixel region (x0, y0, x1, y1) of an image of ``size`` that :func:`network_input` keeps."""
    w, h = size
    s = prep.resize_short / min(w, h)
    nw, nh = max(prep.crop, round(w * s)), max(prep.crop, round(h * s))
    sx, sy = w / nw, h / nh
    left, top = (nw - prep.crop) // 2, (nh - prep.crop) // 2
    return (left * sx, top * sy, (left + prep.crop) * sx, (top + prep.crop) * sy)


def to_photo_box(box: Sequence[float] | None, view: Sequence[float], size: tuple[int, int]) -> list[float] | None:
    """A box normalised to the network input -> normalised to the photo, clipped to it."""
    if box is None:
        return None
    x0, y0, x1, y1 = view
    W, H = size
    bx0 = (x0 + box[0] * (x1 - x0)) / W
    by0 = (y0 + box[1] * (y1 - y0)) / H
    bx1 = (x0 + (box[0] + box[2]) * (x1 - x0)) / W
    by1 = (y0 + (box[1] + box[3]) * (y1 - y0)) / H
    bx0, by0, bx1, by1 = (min(max(float(v), 0.0), 1.0) for v in (bx0, by0, bx1, by1))
    return [round(bx0, 4), round(by0, 4), round(bx1 - bx0, 4), round(by1 - by0, 4)]


# -- one view, one photo -----------------------------------------------------------------------
@dataclass
class ViewResult:
    """LIME of one view (whole frame or one detector box's crop), in photo coordinates."""

    explanation: Explanation
    view: tuple[float, float, float, float]        # network pixels' region in the photo, pixels
    bbox: list[float] | None                       # LIME box, normalised to the photo
    detection: dict | None = None                  # the detector box explained, if any
    iou: float | None = None

    def as_dict(self, classes: list[str], review_iou: float) -> dict:
        e = self.explanation
        d = {"class": classes[e.target], "probability": round(e.probability, 6), "r2": round(e.r2, 4),
             "bbox": self.bbox, "superpixels": len(e.weights),
             "weights": [round(float(w), 6) for w in e.weights], "intercept": round(e.intercept, 6)}
        if self.detection is not None:
            d = {"detector_bbox": [round(float(v), 4) for v in self.detection["bbox"]],
                 "detector_conf": round(float(self.detection["conf"]), 4),
                 "iou": None if self.iou is None else round(self.iou, 4),
                 "needs_review": bool(self.iou is None or self.iou < review_iou), **d}
        return d


@dataclass
class PhotoResult:
    file: str                       # as matched against MD results (relative to the folder given)
    path: str
    stem: str                       # output name without extension
    size: tuple[int, int] | None = None
    views: list[ViewResult] = field(default_factory=list)
    failure: str | None = None
    note: str | None = None
    image: Any = field(default=None, repr=False)   # decoded photo, kept only to draw the heatmap


def explain_photo(path: str | os.PathLike, scorer: ImageClassifier, options: LimeOptions, target: int | None,
                  detections: list[dict] | None = None, margin: float = CROP_MARGIN,
                  progress=None) -> tuple[object, list[ViewResult]]:
    """Decode ``path`` once; explain the whole frame, or each detection's classifier crop."""
    prep = scorer.prep
    if detections:
        im = open_image(path)     # full resolution: crops of small boxes need the pixels
    else:
        im = open_image(path, min_short_side=math.ceil(DRAFT_FACTOR * prep.resize_short))
    views = []
    if not detections:
        e = explain(network_input(im, prep), scorer, target, options, progress)
        view = centre_crop_view(im.size, prep)
        views.append(ViewResult(e, view, to_photo_box(e.box, view, im.size)))
        return im, views
    for det in detections:
        crop = classifier_crop(im, det["bbox"], scorer.featurizer, margin)
        left, top, side = square_region(im.size, det["bbox"], margin)
        cx0, cy0, cx1, cy1 = centre_crop_view(crop.size, prep)
        k = side / crop.size[0]
        view = (left + cx0 * k, top + cy0 * k, left + cx1 * k, top + cy1 * k)
        e = explain(scorer.prepare_image(crop), scorer, target, options, progress)
        bbox = to_photo_box(e.box, view, im.size)
        views.append(ViewResult(e, view, bbox, det, float(iou(bbox, det["bbox"])) if bbox else None))
    return im, views


# -- photos and their detector boxes -----------------------------------------------------------
def gather_photos(inputs: Sequence[str | os.PathLike]) -> list[tuple[str, Path]]:
    """(file as MD results name it, path) for photo arguments and every photo below folder arguments."""
    out = []
    for arg in inputs:
        p = Path(arg)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS:
                    out.append((f.relative_to(p).as_posix(), f))
        elif p.exists():
            out.append((p.name, p))
        else:
            raise FileNotFoundError(f"no such photo or folder: {arg}")
    if not out:
        raise ExplainError("no photos found in " + ", ".join(map(str, inputs)))
    return out


def boxes_by_file(results: dict, threshold: float) -> dict[str, list[dict]]:
    """Animal detections at or above ``threshold`` per image file of MD results, best first."""
    out = {}
    for im in results.get("images", []):
        dets = [d for d in im.get("detections") or [] if str(d.get("category")) == "1"
                and float(d.get("conf", 0)) >= threshold and not d.get("lime")]
        out[im["file"]] = sorted(dets, key=lambda d: -float(d["conf"]))
    return out


# -- the whole command ---------------------------------------------------------------------------
@dataclass
class ExplainReport:
    out: str
    photos: int = 0
    explained_views: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    needs_review: int = 0
    boxes_checked: int = 0
    r2: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    merged: str | None = None

    def summary(self) -> str:
        lines = [f"{self.photos} photos: {self.explained_views} explanations, {len(self.failures)} failed"]
        if self.r2:
            lines.append(f"fit r²: median {np.median(self.r2):.2f} (min {min(self.r2):.2f}, max {max(self.r2):.2f})")
        if self.boxes_checked:
            lines.append(f"detector boxes: {self.boxes_checked} explained, {self.needs_review} need review "
                         f"(LIME box IoU < threshold)")
        lines += [f"  failed: {f}: {why}" for f, why in list(self.failures.items())[:20]]
        lines += self.notes
        if self.merged:
            lines.append(f"LIME boxes merged into {self.merged}")
        lines.append(f"explanations written to {self.out}")
        return "\n".join(lines)


@lru_cache(maxsize=1)
def _people_detector():
    """The person detector, built once per process (loading its network costs more than a photo)."""
    from .stages.people import PeopleDetector
    return PeopleDetector()


def _blur_people(image):
    """The photo with every person the person detector finds blurred."""
    from .privacy import blur_people
    return blur_people(image, _people_detector().detect(image))


def explain_photos(model: str | os.PathLike, inputs: Sequence[str | os.PathLike], out: str | os.PathLike,
                   options: LimeOptions | None = None, class_name: str | None = None,
                   boxes: str | os.PathLike | None = None, box_threshold: float = 0.2,
                   review_iou: float = REVIEW_IOU, merge: str | os.PathLike | None = None,
                   runtime: str = "auto", progress: bool = True, heatmaps: bool = True,
                   blur_people: bool = False) -> ExplainReport:
    """``irbis explain``: write ``<stem>.json`` (+ ``<stem>.png``) per photo into ``out``.

    ``blur_people``: people found by the person detector (YOLOv3-tiny) are blurred in the heatmaps."""
    from .explain_output import merge_into, write_photo
    from .formats.md_json import read_results
    options = options or LimeOptions()
    scorer = ClassifierSpec(str(model), runtime=runtime).build()
    target = class_index(scorer, class_name)
    photos = gather_photos(inputs)
    box_map = boxes_by_file(read_results(boxes), box_threshold) if boxes else None
    if merge:
        read_results(merge)      # a missing or foreign file is an error before any work, not after
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = ExplainReport(out=str(out), photos=len(photos))
    results: list = []
    stems: set[str] = set()
    bar = tqdm(total=len(photos) * options.samples, desc="explain", unit="sample", disable=not progress)
    for file, path in photos:
        stem = _unique_stem(path.stem, stems)
        res = PhotoResult(file, str(path), stem)
        dets = None
        if box_map is not None:
            key = match_entry(file, box_map)
            dets = box_map.get(key) if key else None
            if key is None:
                res.note = "not in the boxes file: whole frame explained"
            elif not dets:
                res.note = "no animal box at or above the threshold: whole frame explained"
            elif len(dets) > 1:
                bar.total += (len(dets) - 1) * options.samples
                bar.refresh()
        before, expected = bar.n, options.samples * max(1, len(dets or []))
        try:
            res.image, res.views = explain_photo(path, scorer, options, target, dets, progress=bar.update)
            res.size = res.image.size
        except ImageReadError as exc:
            res.failure = str(exc)
        except ExplainError:
            raise
        except Exception as exc:  # one bad photo is a failure record, never the end of the run
            res.failure = f"explain failed: {type(exc).__name__}: {exc}"
        if res.failure:
            report.failures[file] = res.failure
        bar.update(max(0, before + expected - bar.n))
        if blur_people and heatmaps and res.image is not None:
            res.image = _blur_people(res.image)
        write_photo(out, res, scorer.classes, options, review_iou, heatmap=heatmaps)
        res.image = None
        report.explained_views += len(res.views)
        report.r2 += [v.explanation.r2 for v in res.views]
        for v in res.views:
            if v.detection is not None:
                report.boxes_checked += 1
                report.needs_review += v.iou is None or v.iou < review_iou
        results.append(res)
    bar.close()
    if merge:
        merge_into(merge, results, scorer.classes)
        report.merged = str(merge)
    return report


def _unique_stem(stem: str, used: set[str]) -> str:
    name, n = stem, 2
    while name in used:
        name, n = f"{stem}-{n}", n + 1
    used.add(name)
    return name
