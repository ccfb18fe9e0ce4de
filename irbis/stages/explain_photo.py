"""The explain stage: one photo -> LIME explanations of its views, in photo coordinates.

A *view* is what the classifier saw and LIME masks: the whole frame as ``irbis predict`` sees it
(``centre``: the centre crop of the short-side resize), the whole frame padded square with the
crops' mid-grey so that nothing is cut off (``full``), or, when the record carries detector boxes,
the square crop ``irbis run`` classified for each box. The photo is decoded once in ``prepare``
(the CPU half; full resolution only when small boxes need the pixels), every view's network input
is made from that one decode, and ``run`` scores the masked copies in batches through the
bundle's image -> probabilities stage (:mod:`irbis.stages.classify`).

Like every stage it is built from a picklable spec, so the local and Spark engines drive it the
same way (``irbis explain --engine spark``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..geometry import iou, square_region
from ..imageio import DRAFT_FACTOR, Preprocessing, decoded_sha256, network_input, open_image
from ..records import ImageRecord
from . import Decoded
from .classify import ClassifierSpec, ImageClassifier
from .crops import CROP_MARGIN, classifier_crop
from .explain import ExplainError, Explanation, LimeOptions, explain

VIEWS = ("centre", "full")
PREVIEW_MAX_SIDE = 1024    # the photo comes back this size for the heatmap (never the full frame)
WHOLE_FRAME = (0.0, 0.0, 1.0, 1.0)


@dataclass(frozen=True)
class ExplainRecord(ImageRecord):
    """A photo to explain, with the name MD results give it and the detector boxes to explain
    (empty: the whole frame)."""

    file: str = ""
    detections: tuple = ()

    @classmethod
    def of_file(cls, id: int, path: str | Path, file: str, detections: Sequence[dict] = ()) -> "ExplainRecord":
        """A photo file given on the command line (not catalogued: no hash to check it against)."""
        return cls(id=id, path=str(path), root=str(Path(path).parent), rel_path=file, deployment="", sha256=None,
                   taken_at=None, sequence_id=None, width=None, height=None, failure=None, file=file,
                   detections=tuple(detections))


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


def full_frame_margin(prep: Preprocessing) -> float:
    """Margin around the whole frame's square so that the network's centre crop keeps all of it."""
    return max(0.0, (prep.resize_short / prep.crop - 1.0) / 2.0)


def square_view(im: Image.Image, bbox: Sequence[float], classifier: ImageClassifier,
                margin: float) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Network input of the square crop around ``bbox`` (as ``irbis run`` classifies a box) and the
    region of the photo, in pixels, the network sees of it."""
    crop = classifier_crop(im, bbox, classifier.featurizer, margin)
    left, top, side = square_region(im.size, bbox, margin)
    cx0, cy0, cx1, cy1 = centre_crop_view(crop.size, classifier.prep)
    k = side / crop.size[0]
    return classifier.prepare_image(crop), (left + cx0 * k, top + cy0 * k, left + cx1 * k, top + cy1 * k)


# -- results ------------------------------------------------------------------------------------
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
class PhotoExplanation:
    """What the stage returns for one photo: its size, its explained views and a small preview
    of the photo (long side <= 1024 px) for the heatmap overlay."""

    size: tuple[int, int]
    views: list[ViewResult] = field(default_factory=list)
    preview: Any = field(default=None, repr=False)


@dataclass
class Prepared:
    """``prepare``'s output: each view's network input, its region and its detector box."""

    size: tuple[int, int]
    inputs: list[tuple[np.ndarray, tuple[float, float, float, float], dict | None]]
    preview: Any = field(default=None, repr=False)


def preview_of(im: Image.Image, max_side: int = PREVIEW_MAX_SIDE) -> Image.Image:
    scale = min(1.0, max_side / max(im.size))
    if scale >= 1.0:
        return im.copy()
    return im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.BILINEAR)


# -- the stage ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExplainSpec:
    """Picklable description of an :class:`ExplainStage`.

    ``target``: class index to explain (None: the class the model predicts for each view);
    ``view``: ``centre`` or ``full`` for photos explained whole; ``margin``: the crops' context."""

    classifier: ClassifierSpec
    options: LimeOptions = LimeOptions()
    target: int | None = None
    view: str = "centre"
    margin: float = CROP_MARGIN
    preview: bool = True

    def __post_init__(self):
        if self.view not in VIEWS:
            raise ExplainError(f"view must be one of {', '.join(VIEWS)}, not {self.view!r}")

    def build(self) -> "ExplainStage":
        return ExplainStage(self)


class ExplainStage:
    """LIME per photo as a stage: ``prepare`` decodes once, ``run`` explains each view."""

    failure_label = "explainer"

    def __init__(self, spec: ExplainSpec, classifier: ImageClassifier | None = None):
        self._spec = spec
        self.classifier = classifier or spec.classifier.build()
        if spec.target is not None and not 0 <= spec.target < len(self.classifier.classes):
            raise ExplainError(f"class index {spec.target} out of range for {len(self.classifier.classes)} classes")

    @property
    def spec(self) -> ExplainSpec:
        return self._spec

    @property
    def id(self) -> str:
        o = self._spec.options
        return (f"explain/{self.classifier.id}/{self._spec.view}/t{self._spec.target}/s{o.samples}k{o.segments}"
                f"p{o.keep:g}w{o.kernel_width:g}{o.space}/seed{o.seed}")

    def prepare(self, record: ImageRecord) -> Decoded:
        """Decode the photo once; make every view's network input from that decode."""
        prep = self.classifier.prep
        dets = list(getattr(record, "detections", ()) or ())
        if dets:
            im = open_image(record.source)     # full resolution: crops of small boxes need the pixels
        else:
            im = open_image(record.source, min_short_side=math.ceil(DRAFT_FACTOR * prep.resize_short))
        inputs: list = []
        if dets:
            for det in dets:
                x, view = square_view(im, det["bbox"], self.classifier, self._spec.margin)
                inputs.append((x, view, det))
        elif self._spec.view == "full":
            x, view = square_view(im, WHOLE_FRAME, self.classifier, full_frame_margin(prep))
            inputs.append((x, view, None))
        else:
            inputs.append((network_input(im, prep), centre_crop_view(im.size, prep), None))
        preview = preview_of(im) if self._spec.preview else None
        return Decoded((Prepared(im.size, inputs, preview),), decoded_sha256(im))

    def explain_path(self, path: str, detections: Sequence[dict] = ()) -> PhotoExplanation:
        """Both halves for one photo file (benches, notebooks)."""
        return self.run([self.prepare(ExplainRecord.of_file(0, path, str(path), detections))])[0]

    def run(self, batch: Sequence[Any]) -> list[PhotoExplanation]:
        out = []
        for item in batch:
            prepared: Prepared = item[0] if isinstance(item, tuple) else item
            out.append(self.explain_prepared(prepared))
        return out

    def explain_prepared(self, prepared: Prepared) -> PhotoExplanation:
        o, size = self._spec.options, prepared.size
        views = []
        for x, view, det in prepared.inputs:
            e = explain(x, self.classifier, self._spec.target, o)
            bbox = to_photo_box(e.box, view, size)
            overlap = float(iou(bbox, det["bbox"])) if det is not None and bbox else None
            views.append(ViewResult(e, view, bbox, det, overlap))
        return PhotoExplanation(size, views, prepared.preview)
