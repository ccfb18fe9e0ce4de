"""``irbis explain``: LIME explanations of a model bundle for photos, or for the detector boxes
the main job classified, with a box around the evidence and its agreement with the detector.

The per-photo work is a stage (:mod:`irbis.stages.explain_photo`: one decode, one network input
per explained view, LIME from :mod:`irbis.stages.explain`), mapped over the photos by an engine
(local, or Spark with ``--engine spark``); this module gathers the photos and their detector
boxes and writes what comes back (:class:`ExplainSink`). Boxes are in the photo's normalised
coordinates (MegaDetector's [x_min, y_min, width, height]).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .engines import Engine
from .formats.md_json import match_entry
from .imageio import IMAGE_EXTENSIONS
from .progress import Listener
from .records import ImageRecord
from .stages.classify import ClassifierSpec
from .stages.explain import ExplainError, LimeOptions
from .stages.explain_photo import ExplainRecord, ExplainSpec, ExplainStage, PhotoExplanation, ViewResult

REVIEW_IOU = 0.5     # a detector box whose LIME box overlaps it less than this needs review


def class_index(classes: Sequence[str], name: str | None) -> int | None:
    """Index of class ``name``; a clear error for a class the model does not know."""
    if name is None:
        return None
    if name not in classes:
        raise ExplainError(f"class {name!r} is not in this model; its classes are: " + ", ".join(classes))
    return list(classes).index(name)


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
    engine: str = "local"

    def summary(self) -> str:
        lines = [f"{self.photos} photos: {self.explained_views} explanations, {len(self.failures)} failed"
                 + ("" if self.engine == "local" else f" (engine: {self.engine})")]
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


@dataclass
class PhotoResult:
    """One photo's outcome, as :mod:`irbis.explain_output` writes it."""

    file: str                       # as matched against MD results (relative to the folder given)
    path: str
    stem: str                       # output name without extension
    size: tuple[int, int] | None = None
    views: list[ViewResult] = field(default_factory=list)
    failure: str | None = None
    note: str | None = None
    image: Any = field(default=None, repr=False)   # preview of the photo, kept only to draw the heatmap


class ExplainSink:
    """Writes each photo's JSON and heatmap as its explanation arrives (so nothing done is lost
    when a long run stops) and keeps the totals and what ``--merge`` needs."""

    def __init__(self, out: Path, classes: list[str], options: LimeOptions, review_iou: float,
                 stems: dict[int, str], notes: dict[int, str], heatmaps: bool, blur_people: bool):
        self.out, self.classes, self.options, self.review_iou = out, classes, options, review_iou
        self.stems, self.notes, self.heatmaps, self.blur_people = stems, notes, heatmaps, blur_people
        self.report = ExplainReport(out=str(out))
        self.results: list[PhotoResult] = []

    def _result(self, record: ImageRecord) -> PhotoResult:
        file = getattr(record, "file", "") or record.rel_path
        return PhotoResult(file, record.path, self.stems[record.id], note=self.notes.get(record.id))

    def put(self, record: ImageRecord, result: PhotoExplanation) -> None:
        from .explain_output import write_photo
        res = self._result(record)
        res.size, res.views, res.image = result.size, result.views, result.preview
        if self.blur_people and self.heatmaps and res.image is not None:
            res.image = _blur_people(res.image)
        write_photo(self.out, res, self.classes, self.options, self.review_iou, heatmap=self.heatmaps)
        res.image = None
        self.report.explained_views += len(res.views)
        self.report.r2 += [v.explanation.r2 for v in res.views]
        for v in res.views:
            if v.detection is not None:
                self.report.boxes_checked += 1
                self.report.needs_review += v.iou is None or v.iou < self.review_iou
        self.results.append(res)

    def fail(self, record: ImageRecord, reason: str) -> None:
        from .explain_output import write_photo
        res = self._result(record)
        res.failure = reason
        self.report.failures[res.file] = reason
        write_photo(self.out, res, self.classes, self.options, self.review_iou, heatmap=False)
        self.results.append(res)


def explain_records(photos: list[tuple[str, Path]], box_map: dict[str, list[dict]] | None
                    ) -> tuple[list[ExplainRecord], dict[int, str], dict[int, str]]:
    """Records of the photos to explain (with their detector boxes), unique output stems, notes."""
    records, stems, notes = [], {}, {}
    used: set[str] = set()
    for i, (file, path) in enumerate(photos):
        dets: list[dict] = []
        if box_map is not None:
            key = match_entry(file, box_map)
            dets = (box_map.get(key) or []) if key else []
            if key is None:
                notes[i] = "not in the boxes file: whole frame explained"
            elif not dets:
                notes[i] = "no animal box at or above the threshold: whole frame explained"
        stems[i] = _unique_stem(path.stem, used)
        records.append(ExplainRecord.of_file(i, path, file, dets))
    return records, stems, notes


def explain_photos(model: str | os.PathLike, inputs: Sequence[str | os.PathLike], out: str | os.PathLike,
                   options: LimeOptions | None = None, class_name: str | None = None,
                   boxes: str | os.PathLike | None = None, box_threshold: float = 0.2,
                   review_iou: float = REVIEW_IOU, merge: str | os.PathLike | None = None,
                   runtime: str = "auto", progress: bool = True, heatmaps: bool = True,
                   blur_people: bool = False, view: str = "centre", engine: Engine | None = None,
                   listener: Listener | None = None) -> ExplainReport:
    """``irbis explain``: write ``<stem>.json`` (+ ``<stem>.png``) per photo into ``out``.

    ``view``: how a whole frame is explained (``centre``: what ``irbis predict`` sees; ``full``:
    the frame padded square, nothing cut off). ``engine``: where the photos are explained (the
    local engine by default; a Spark engine spreads them over a cluster).
    ``blur_people``: people found by the person detector (YOLOv3-tiny) are blurred in the heatmaps."""
    from .engines import get_engine
    from .explain_output import merge_into
    from .formats.md_json import read_results
    from .progress import progress_bar
    options = options or LimeOptions()
    spec = ExplainSpec(ClassifierSpec(str(model), runtime=runtime), options, view=view)   # checks the view
    classifier = spec.classifier.build()      # a missing bundle fails here, before any work
    classes = classifier.classes
    stage = ExplainStage(replace(spec, target=class_index(classes, class_name)), classifier)
    photos = gather_photos(inputs)
    box_map = boxes_by_file(read_results(boxes), box_threshold) if boxes else None
    if merge:
        read_results(merge)      # a missing or foreign file is an error before any work, not after
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records, stems, notes = explain_records(photos, box_map)
    sink = ExplainSink(out, list(classes), options, review_iou, stems, notes, heatmaps, blur_people)
    engine = engine or get_engine("local")
    if listener is None and progress:
        listener = progress_bar()
    engine.map(stage, records, sink, listener, task="explain")
    report = sink.report
    report.photos, report.engine = len(records), engine.name
    if merge:
        merge_into(merge, sink.results, list(classes))
        report.merged = str(merge)
    return report


def _unique_stem(stem: str, used: set[str]) -> str:
    name, n = stem, 2
    while name in used:
        name, n = f"{stem}-{n}", n + 1
    used.add(name)
    return name
