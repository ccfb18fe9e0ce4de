"""What ``irbis evaluate`` scores: classifier predictions, detector output or a submission.

* classifier: the CSV of ``irbis predict`` (``file, sequence, predicted, confidence, failure,
  prob_<class>...``, optionally ``sequence_predicted, sequence_confidence, sequence_prob_<class>``);
* detector: MegaDetector batch output JSON (format 1.6, normalised ``[x, y, w, h]`` boxes);
* submission: Serengeti style ``seq_id`` + one probability per class.

Every probability must be a number in [0, 1]; rows that break this, repeat a file or lack a
needed column are reported together, by line.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..records import CATEGORY_NAMES
from .truth import TruthError, norm_key


class PredictionsError(TruthError):
    """Predictions that cannot be scored; the message names the rows."""


@dataclass
class ClassifierPredictions:
    path: Path
    classes: list[str]
    files: list[str]
    sequences: list[str]
    probs: np.ndarray                         # (files, classes); NaN rows for failures
    failures: dict[str, str] = field(default_factory=dict)
    seq_probs: dict[str, np.ndarray] = field(default_factory=dict)   # from sequence_prob_<class>


@dataclass
class DetectorPredictions:
    path: Path
    files: list[str]
    detections: dict[str, list[tuple[str, float, list[float]]]]   # file -> (category name, conf, bbox)
    failures: dict[str, str] = field(default_factory=dict)
    detector: str = ""
    typical_threshold: float | None = None


@dataclass
class SubmissionPredictions:
    path: Path
    classes: list[str]
    seq_probs: dict[str, np.ndarray]


def read_predictions(path: str | os.PathLike):
    """Detect the kind of ``path`` and read it."""
    path = Path(path)
    if not path.is_file():
        raise PredictionsError(f"predictions file not found: {path}")
    if path.suffix.lower() == ".json":
        return read_md_results(path)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        header = [c.strip() for c in next(csv.reader(fh), [])]
    if "seq_id" in header and "file" not in header:
        from ..serengeti import read_submission
        sub = read_submission(path)
        return SubmissionPredictions(path, sub.classes, dict(zip(sub.seq_ids, sub.values)))
    return read_classifier_csv(path)


def _prob(text: str) -> float | None:
    """A probability cell: float in [0, 1], or None when it is not one."""
    try:
        v = float(text)
    except ValueError:
        return None
    return v if 0.0 <= v <= 1.0 else None


def read_classifier_csv(path: Path, max_errors: int = 10) -> ClassifierPredictions:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = [c.strip() for c in reader.fieldnames or []]
        classes = [c[len("prob_"):] for c in cols if c.startswith("prob_")]
        missing = [c for c in ("file",) if c not in cols] + ([] if classes else ["prob_<class> (one per class)"])
        if missing:
            raise PredictionsError(f"{path}: missing column(s) {', '.join(missing)}; expected the CSV written "
                                   f"by 'irbis predict' (file, sequence, predicted, confidence, failure, "
                                   f"prob_<class>...), "
                                   f"found {cols or 'no header'}")
        seq_cols = [f"sequence_prob_{c}" for c in classes]
        has_seq = all(c in cols for c in seq_cols)
        files, seqs, probs, failures, seq_probs = [], [], [], {}, {}
        seen: dict[str, int] = {}
        errors = []
        for line, raw in enumerate(reader, start=2):
            r = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
            f = norm_key(r.get("file", ""))
            if not f:
                errors.append(f"line {line}: empty 'file'")
                continue
            if f in seen:
                errors.append(f"line {line}: duplicate file {f!r} (first on line {seen[f]})")
                continue
            seen[f] = line
            if r.get("failure"):
                failures[f] = r["failure"]
                row = [np.nan] * len(classes)
            else:
                row = [_prob(r.get(f"prob_{c}", "")) for c in classes]  # type: ignore[misc]
                bad = [c for c, v in zip(classes, row) if v is None]
                if bad:
                    more = f" (and {len(bad) - 1} more columns)" if len(bad) > 1 else ""
                    errors.append(f"line {line} ({f}): prob_{bad[0]}={r.get('prob_' + bad[0])!r} is not a "
                                  f"probability in [0, 1]{more}")
                    continue
            if has_seq and r.get("sequence") and r.get(seq_cols[0]):
                sp = [_prob(r.get(c, "")) for c in seq_cols]
                if any(v is None for v in sp):
                    errors.append(f"line {line} ({f}): sequence probabilities must lie in [0, 1]")
                    continue
                seq_probs[r["sequence"]] = np.array(sp)
            files.append(f)
            seqs.append(r.get("sequence", ""))
            probs.append(row)
    if errors:
        more = f" (and {len(errors) - max_errors} more)" if len(errors) > max_errors else ""
        raise PredictionsError(f"{path}: {len(errors)} bad row(s){more}:\n  " + "\n  ".join(errors[:max_errors]))
    if not files:
        raise PredictionsError(f"{path}: no predictions")
    return ClassifierPredictions(path, classes, files, seqs, np.array(probs, dtype=float), failures, seq_probs)


def read_md_results(path: Path, max_errors: int = 10) -> DetectorPredictions:
    """MegaDetector batch JSON: detections with category names, confidences and boxes."""
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PredictionsError(f"{path}: not a readable JSON file ({exc})") from exc
    if not isinstance(d, dict) or not isinstance(d.get("images"), list):
        raise PredictionsError(f"{path}: not MegaDetector batch output (needs an 'images' list)")
    default_cats = CATEGORY_NAMES
    cats = {str(k): v for k, v in (d.get("detection_categories") or default_cats).items()}
    meta = (d.get("info") or {}).get("detector_metadata") or {}
    out = DetectorPredictions(path, [], {}, detector=str((d.get("info") or {}).get("detector", "")),
                              typical_threshold=meta.get("typical_detection_threshold"))
    errors = []
    for i, im in enumerate(d["images"]):
        f = norm_key(str(im.get("file", "")))
        if not f:
            errors.append(f"images[{i}]: empty 'file'")
            continue
        if f in out.detections:
            errors.append(f"images[{i}]: duplicate file {f!r}")
            continue
        dets = []
        if im.get("failure"):
            out.failures[f] = str(im["failure"])
        for k, det in enumerate(im.get("detections") or []):
            conf = _prob(str(det.get("conf", "")))
            box = det.get("bbox")
            if conf is None:
                errors.append(f"images[{i}] ({f}) detection {k}: conf {det.get('conf')!r} is not in [0, 1]")
            elif not isinstance(box, list) or len(box) != 4:
                errors.append(f"images[{i}] ({f}) detection {k}: bbox must be [x, y, w, h]")
            else:
                dets.append((cats.get(str(det.get("category")), str(det.get("category"))), conf,
                             [float(v) for v in box]))
        out.files.append(f)
        out.detections[f] = dets
    if errors:
        more = f" (and {len(errors) - max_errors} more)" if len(errors) > max_errors else ""
        raise PredictionsError(f"{path}: {len(errors)} bad entr(ies){more}:\n  " + "\n  ".join(errors[:max_errors]))
    return out
