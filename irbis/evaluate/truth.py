"""Ground truth for ``irbis evaluate``, read from the layouts camera-trap projects publish.

Formats (``detect_format`` picks one from the file itself):

* ``labels``: a labels CSV, ``file,label[,sequence]`` (what ``irbis train`` reads; ``irbis synth``
  writes one). ``--truth-column`` picks another label column.
* ``manifest``: the data kit's ``cameratrap/manifest.csv`` (``file,split,label,kind,...``); the
  ``kind`` column (animal / person / vehicle / empty) is used unless another is chosen. Boxes come
  from Camtrap DP packages beside the photos: ``observations.csv`` (``bboxX, bboxY, bboxWidth,
  bboxHeight``, normalised) joined on ``mediaID`` through ``media.csv`` ``fileName``.
* ``cct``: COCO Camera Traps JSON (``images``, ``annotations``, ``categories``; boxes in pixels,
  normalised here by each image's width and height; category ``empty`` has no box).
* ``serengeti``: Snapshot Serengeti / Hakuna Ma-data ``train_labels.csv``: ``seq_id`` then one
  0/1 column per class, one row per sequence.

File names are kept as written ('/' separated, relative to the truth file); predictions are
matched to them by path suffix (see :func:`match_files`).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

FORMATS = ("auto", "labels", "manifest", "cct", "serengeti")


class TruthError(ValueError):
    """Ground truth that cannot be used; the message names the rows."""


@dataclass
class Truth:
    """Labels per file and/or per sequence, and boxes for exhaustively boxed files."""

    path: Path
    format: str
    column: str | None = None
    labels: dict[str, str] = field(default_factory=dict)            # file -> label
    where: dict[str, str] = field(default_factory=dict)             # file -> "line 12" (for errors)
    sequences: dict[str, str] = field(default_factory=dict)         # file -> sequence id
    seq_classes: list[str] = field(default_factory=list)            # one-hot columns, in file order
    seq_labels: dict[str, list[float]] = field(default_factory=dict)  # seq id -> one value per class
    seq_where: dict[str, str] = field(default_factory=dict)
    boxes: dict[str, list[list[float]]] = field(default_factory=dict)  # file -> [[x, y, w, h]] normalised
    box_sources: list[str] = field(default_factory=list)            # where boxes came from
    unlabelled: list[str] = field(default_factory=list)             # listed files without a label
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"{self.format} truth {self.path.name}"]
        if self.labels:
            parts.append(f"{len(self.labels)} labelled files" + (f" (column {self.column!r})" if self.column else ""))
        if self.seq_labels:
            parts.append(f"{len(self.seq_labels)} labelled sequences, {len(self.seq_classes)} classes")
        if self.boxes:
            parts.append(f"{len(self.boxes)} boxed files")
        return ", ".join(parts)


def norm_key(name: str) -> str:
    """'/'-separated relative form of a file name as written in a truth or predictions file."""
    s = name.strip().replace("\\", "/")
    while s.startswith("./"):
        s = s[2:]
    return s.lstrip("/")


def _fail(path: Path, errors: list[str], max_errors: int = 10) -> None:
    if errors:
        more = f" (and {len(errors) - max_errors} more)" if len(errors) > max_errors else ""
        raise TruthError(f"{path}: {len(errors)} bad row(s){more}:\n  " + "\n  ".join(errors[:max_errors]))


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = [c.strip() for c in reader.fieldnames or []]
        rows = [(line, {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None})
                for line, raw in enumerate(reader, start=2)]
    return cols, rows


def detect_format(path: str | os.PathLike) -> str:
    """Guess the truth format from the file's extension and header."""
    path = Path(path)
    if not path.is_file():
        raise TruthError(f"truth file not found: {path}")
    if path.suffix.lower() == ".json":
        return "cct"
    with open(path, newline="", encoding="utf-8-sig") as fh:
        header = [c.strip() for c in next(csv.reader(fh), [])]
    if "seq_id" in header and "file" not in header and "file_name" not in header:
        return "serengeti"
    if {"file", "split", "kind"} <= set(header):
        return "manifest"
    if "file" in header:
        return "labels"
    raise TruthError(f"{path}: cannot tell the truth format from its header {header}; expected a labels CSV "
                     f"(file,label), a camera-trap manifest (file,split,label,kind), a Serengeti labels CSV "
                     f"(seq_id + one-hot class columns) or a COCO Camera Traps .json")


def read_truth(path: str | os.PathLike, fmt: str = "auto", column: str | None = None) -> Truth:
    """Read ground truth in ``fmt`` (``auto`` detects it); ``column``: the label column to use."""
    if fmt not in FORMATS:
        raise TruthError(f"unknown truth format {fmt!r}; choose one of {', '.join(FORMATS)}")
    path = Path(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if not path.is_file():
        raise TruthError(f"truth file not found: {path}")
    if fmt == "serengeti":
        return read_serengeti_truth(path)
    reader = {"labels": read_labels_truth, "manifest": read_manifest_truth, "cct": read_cct_truth}[fmt]
    return reader(path, column)


def read_labels_truth(path: Path, column: str | None = None, fmt: str = "labels",
                      allow_unlabelled: bool = False) -> Truth:
    """``file`` + a label column; an empty label is an error unless ``allow_unlabelled`` (then the
    file is left out with a note: a manifest lists photos nobody labelled frame by frame)."""
    cols, rows = _read_csv(path)
    column = column or "label"
    missing = [c for c in ("file", column) if c not in cols]
    if missing:
        raise TruthError(f"{path}: missing column(s) {', '.join(missing)}; found {cols or 'no header'}")
    truth = Truth(path=path, format=fmt, column=column)
    errors, unlabelled = [], []
    for line, r in rows:
        if not r.get("file"):
            errors.append(f"line {line}: empty 'file'")
            continue
        key = norm_key(r["file"])
        if not r.get(column) and allow_unlabelled:
            unlabelled.append(key)
        elif not r.get(column):
            errors.append(f"line {line}: empty {column!r} for {r['file']}")
        elif key in truth.labels:
            errors.append(f"line {line}: {r['file']} is already labelled on {truth.where[key]}")
        else:
            truth.labels[key] = r[column]
            truth.where[key] = f"line {line}"
            if r.get("sequence"):
                truth.sequences[key] = r["sequence"]
    _fail(path, errors)
    truth.unlabelled = unlabelled
    if not truth.labels:
        raise TruthError(f"{path}: no labelled files")
    return truth


def read_manifest_truth(path: Path, column: str | None = None) -> Truth:
    """The kit's camera-trap manifest; boxes from Camtrap DP packages in the photo folders."""
    truth = read_labels_truth(path, column or "kind", fmt="manifest", allow_unlabelled=True)
    base = path.resolve().parent
    folders = sorted({k.rsplit("/", 1)[0] for k in truth.labels if "/" in k})
    for folder in folders:
        obs, media = base / folder / "observations.csv", base / folder / "media.csv"
        if obs.is_file() and media.is_file():
            boxes = read_camtrap_dp_boxes(obs, media)
            for name, bxs in boxes.items():
                key = f"{folder}/{name}"
                if key in truth.labels:
                    truth.boxes[key] = bxs
            truth.box_sources.append(f"boxes for {sum(f'{folder}/{n}' in truth.labels for n in boxes)} files "
                                     f"from {folder}/observations.csv (Camtrap DP)")
    return truth


def read_camtrap_dp_boxes(observations: Path, media: Path) -> dict[str, list[list[float]]]:
    """fileName -> normalised [x, y, w, h] boxes of a Camtrap DP package's media-level observations."""
    mcols, mrows = _read_csv(media)
    ocols, orows = _read_csv(observations)
    need = {"mediaID", "bboxX", "bboxY", "bboxWidth", "bboxHeight"}
    if not {"mediaID", "fileName"} <= set(mcols) or not need <= set(ocols):
        raise TruthError(f"{observations}: a Camtrap DP package needs media.csv (mediaID, fileName) and "
                         f"observations.csv ({', '.join(sorted(need))})")
    names = {r["mediaID"]: r["fileName"] for _, r in mrows if r.get("mediaID")}
    out: dict[str, list[list[float]]] = {}
    errors = []
    for line, r in orows:
        if not r.get("mediaID") or not r.get("bboxX"):
            continue
        if r["mediaID"] not in names:
            errors.append(f"line {line}: mediaID {r['mediaID']} not in {media.name}")
            continue
        try:
            box = [float(r[k]) for k in ("bboxX", "bboxY", "bboxWidth", "bboxHeight")]
        except ValueError:
            errors.append(f"line {line}: bbox values are not numbers")
            continue
        if min(box) < 0 or box[0] + box[2] > 1.001 or box[1] + box[3] > 1.001:
            errors.append(f"line {line}: bbox {box} is not normalised to [0, 1]")
            continue
        out.setdefault(names[r["mediaID"]], []).append(box)
    _fail(observations, errors)
    return out


def read_cct_truth(path: Path, column: str | None = None) -> Truth:
    """COCO Camera Traps: per-image label from its annotations' categories, pixel boxes normalised."""
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TruthError(f"{path}: not a readable JSON file ({exc})") from exc
    if not isinstance(d, dict) or not {"images", "annotations", "categories"} <= set(d):
        raise TruthError(f"{path}: not COCO Camera Traps (needs images, annotations, categories)")
    cats = {c["id"]: c["name"] for c in d["categories"]}
    truth = Truth(path=path, format="cct", column="category")
    by_id, errors = {}, []
    for i, im in enumerate(d["images"]):
        if "id" not in im or not im.get("file_name"):
            errors.append(f"images[{i}]: needs id and file_name")
            continue
        by_id[im["id"]] = im
    labels: dict[str, list[str]] = {}
    for i, ann in enumerate(d["annotations"]):
        im = by_id.get(ann.get("image_id"))
        if im is None:
            errors.append(f"annotations[{i}]: image_id {ann.get('image_id')!r} is not in images")
            continue
        if ann.get("category_id") not in cats:
            errors.append(f"annotations[{i}]: category_id {ann.get('category_id')!r} is not in categories")
            continue
        key = norm_key(im["file_name"])
        labels.setdefault(key, []).append(cats[ann["category_id"]])
        if ann.get("bbox") is not None:
            w, h = im.get("width"), im.get("height")
            if not w or not h:
                errors.append(f"annotations[{i}]: image {im['id']!r} has a box but no width/height")
                continue
            x, y, bw, bh = (float(v) for v in ann["bbox"])
            truth.boxes.setdefault(key, []).append([x / w, y / h, bw / w, bh / h])
    _fail(path, errors)
    for im in by_id.values():
        key = norm_key(im["file_name"])
        names = [n for n in labels.get(key, []) if n != "empty"]
        truth.labels[key] = max(set(names), key=names.count) if names else "empty"
        truth.where[key] = f"image {im['id']!r}"
        if im.get("seq_id"):
            truth.sequences[key] = str(im["seq_id"])
        if key not in truth.boxes and truth.labels[key] == "empty":
            truth.boxes[key] = []          # an empty frame is exhaustively "boxed": no animal
    return truth


def read_serengeti_truth(path: Path) -> Truth:
    """``seq_id`` + one-hot class columns (values 0 or 1), one row per sequence."""
    from ..serengeti import read_sequence_labels
    seq = read_sequence_labels(path)
    return Truth(path=path, format="serengeti", seq_classes=seq.classes,
                 seq_labels={s: list(map(float, v)) for s, v in zip(seq.seq_ids, seq.values)},
                 seq_where={s: f"line {ln}" for s, ln in zip(seq.seq_ids, seq.lines)})


def match_files(pred_files: list[str], truth_files: list[str]) -> dict[str, str]:
    """Prediction file -> truth file: exact, else the unique truth file sharing a whole-path suffix.

    Predictions are relative to the photo folder given to ``irbis predict``, truth files to their
    label file, so ``CAM01/a.jpg`` matches ``photos/CAM01/a.jpg``. Ambiguous matches are errors.
    """
    truth_set = set(truth_files)
    by_name: dict[str, list[str]] = {}
    for t in truth_files:
        by_name.setdefault(t.rsplit("/", 1)[-1], []).append(t)
    out, ambiguous = {}, []
    for p in pred_files:
        if p in truth_set:
            out[p] = p
            continue
        cands = [t for t in by_name.get(p.rsplit("/", 1)[-1], [])
                 if t.endswith("/" + p) or p.endswith("/" + t)]
        if len(cands) == 1:
            out[p] = cands[0]
        elif len(cands) > 1:
            ambiguous.append(f"{p} matches {', '.join(cands[:3])}")
    if ambiguous:
        raise TruthError(f"{len(ambiguous)} predicted file(s) match several truth files; predict on the "
                         f"folder the truth paths are relative to:\n  " + "\n  ".join(ambiguous[:10]))
    return out
