"""Snapshot Serengeti / Hakuna Ma-data CSV formats.

* ``train_metadata.csv``: one row per photo, ``file_name`` (relative to the image root),
  ``seq_id``, ``datetime`` (optional here), ``location`` (optional; groups cross-validation).
* ``train_labels.csv``: one row per sequence, ``seq_id`` then one 0/1 column per class (54 in
  Hakuna Ma-data, ``empty`` among them); a sequence may have several 1s (multilabel).
* submission: ``seq_id`` then one probability per class, rows in the metadata's sequence order.

Readers check everything up front and raise :class:`~irbis.labels.LabelsError` naming the
offending rows: missing columns, empty or duplicate ``seq_id`` / ``file_name``, values that are
not numbers or lie outside [0, 1].
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import write_csv_atomic
from .labels import LabelsError


def _raise(path: Path, errors: list[str], max_errors: int = 10) -> None:
    if errors:
        more = f" (and {len(errors) - max_errors} more)" if len(errors) > max_errors else ""
        raise LabelsError(f"{path}: {len(errors)} bad row(s){more}:\n  " + "\n  ".join(errors[:max_errors]))


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    if not path.is_file():
        raise LabelsError(f"file not found: {path}")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [c.strip() for c in next(reader, [])]
        rows = [(line, [c.strip() for c in r]) for line, r in enumerate(reader, start=2) if any(c.strip() for c in r)]
    return header, rows


@dataclass
class SequenceTable:
    """Per-sequence values (labels 0/1 or probabilities), one column per class."""

    path: Path
    classes: list[str]
    seq_ids: list[str]
    values: np.ndarray          # (sequences, classes) float
    lines: list[int]


def read_sequence_table(path: str | os.PathLike, what: str = "labels") -> SequenceTable:
    """``seq_id`` + one numeric column per class; values must lie in [0, 1].

    ``what`` = ``labels`` (a labels file: every row needs at least one class set) or
    ``probabilities`` (a submission)."""
    path = Path(path)
    header, rows = _rows(path)
    if "seq_id" not in header:
        raise LabelsError(f"{path}: missing column seq_id; expected 'seq_id' then one column per class, "
                          f"found {header or 'no header'}")
    classes = [c for c in header if c != "seq_id"]
    dupes = sorted({c for c in classes if classes.count(c) > 1})
    if dupes or "" in classes:
        raise LabelsError(f"{path}: class columns must be named and unique; repeated: {dupes or ['(empty name)']}")
    if not classes:
        raise LabelsError(f"{path}: no class columns after seq_id")
    sid = header.index("seq_id")
    idx = [header.index(c) for c in classes]
    seen: dict[str, int] = {}
    seq_ids, values, lines, errors = [], [], [], []
    for line, r in rows:
        if len(r) != len(header):
            errors.append(f"line {line}: {len(r)} fields, the header has {len(header)}")
            continue
        s = r[sid]
        if not s:
            errors.append(f"line {line}: empty seq_id")
            continue
        if s in seen:
            errors.append(f"line {line}: duplicate seq_id {s!r} (first on line {seen[s]})")
            continue
        seen[s] = line
        try:
            v = [float(r[i]) for i in idx]
        except ValueError:
            bad = [classes[k] for k, i in enumerate(idx) if not _is_number(r[i])]
            errors.append(f"line {line} ({s}): not a number in column(s) {', '.join(bad[:5])}")
            continue
        out = [classes[k] for k, x in enumerate(v) if not (0.0 <= x <= 1.0) or math.isnan(x)]
        if out:
            errors.append(f"line {line} ({s}): {what} outside [0, 1] in column(s) {', '.join(out[:5])}")
            continue
        if what == "labels" and max(v) <= 0:
            errors.append(f"line {line} ({s}): no class set (every column is 0)")
            continue
        seq_ids.append(s)
        values.append(v)
        lines.append(line)
    _raise(path, errors)
    if not seq_ids:
        raise LabelsError(f"{path}: no sequences")
    return SequenceTable(path, classes, seq_ids, np.array(values, dtype=float), lines)


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def read_sequence_labels(path: str | os.PathLike) -> SequenceTable:
    """A Serengeti ``train_labels.csv``: ``seq_id`` + one-hot class columns."""
    return read_sequence_table(path, "labels")


def read_submission(path: str | os.PathLike) -> SequenceTable:
    """A submission: ``seq_id`` + one probability per class."""
    return read_sequence_table(path, "probabilities")


@dataclass
class Metadata:
    """A Serengeti ``*_metadata.csv``: photos, their sequence, time and location."""

    path: Path
    files: list[str]            # as written, '/' separated
    seq_ids: list[str]
    datetimes: list[str]
    locations: list[str]        # '' when the file has no location column
    lines: list[int]

    def sequence_order(self) -> list[str]:
        """Sequence ids in order of first appearance."""
        return list(dict.fromkeys(self.seq_ids))


def read_metadata(path: str | os.PathLike) -> Metadata:
    path = Path(path)
    header, rows = _rows(path)
    missing = [c for c in ("file_name", "seq_id") if c not in header]
    if missing:
        raise LabelsError(f"{path}: missing column(s) {', '.join(missing)}; expected 'file_name,seq_id[,datetime]"
                          f"[,location]', found {header or 'no header'}")
    col = {c: header.index(c) for c in header}
    meta = Metadata(path, [], [], [], [], [])
    seen: dict[str, int] = {}
    errors = []
    for line, r in rows:
        if len(r) < len(header):
            r = r + [""] * (len(header) - len(r))
        f, s = r[col["file_name"]].replace("\\", "/"), r[col["seq_id"]]
        if not f or not s:
            errors.append(f"line {line}: empty {'file_name' if not f else 'seq_id'}")
            continue
        if f in seen:
            errors.append(f"line {line}: duplicate file_name {f!r} (first on line {seen[f]})")
            continue
        seen[f] = line
        meta.files.append(f)
        meta.seq_ids.append(s)
        meta.datetimes.append(r[col["datetime"]] if "datetime" in col else "")
        meta.locations.append(r[col["location"]] if "location" in col else "")
        meta.lines.append(line)
    _raise(path, errors)
    if not meta.files:
        raise LabelsError(f"{path}: no photos")
    return meta


def is_sequence_labels_csv(path: str | os.PathLike) -> bool:
    """True when the CSV's header has ``seq_id`` and no ``file`` column (a Serengeti labels file)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = [c.strip() for c in next(csv.reader(fh), [])]
    except OSError:
        return False
    return "seq_id" in header and "file" not in header and "file_name" not in header


def write_submission(path: str | os.PathLike, seq_ids: list[str], classes: list[str], probs: np.ndarray) -> None:
    """``seq_id`` + one probability per class, atomically (6 decimals)."""
    rows = [[s, *(f"{float(v):.6f}" for v in p)] for s, p in zip(seq_ids, probs)]
    write_csv_atomic(path, ["seq_id", *classes], rows)
