"""What flows through irbis: a photo record, a detection, a classification.

Defined once here; the catalog produces :class:`ImageRecord`, stages produce
:class:`Detection` dicts (the MegaDetector batch-format shape, so they are written as they are),
and classifiers produce probability rows over a bundle's classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import NotRequired, TypedDict


class Category(str, Enum):
    """MegaDetector detection categories; the value is what MD JSON writes."""

    ANIMAL = "1"
    PERSON = "2"
    VEHICLE = "3"

    @property
    def label(self) -> str:
        return self.name.lower()


ANIMAL, PERSON, VEHICLE = Category.ANIMAL.value, Category.PERSON.value, Category.VEHICLE.value
CATEGORY_NAMES: dict[str, str] = {c.value: c.label for c in Category}   # {"1": "animal", ...}


@dataclass(frozen=True)
class ImageRecord:
    """One photo as the catalog knows it."""

    id: int
    path: str                 # absolute path
    root: str                 # the ingested folder
    rel_path: str             # relative to root, '/' separated
    deployment: str
    sha256: str | None        # content hash at ingest (None: unreadable)
    taken_at: str | None      # corrected EXIF time, ISO 8601 without zone
    sequence_id: str | None
    width: int | None
    height: int | None
    failure: str | None       # why the file cannot be read, None when fine


class Detection(TypedDict):
    """One box: category value ("1" animal, "2" person, "3" vehicle), confidence, and the box
    normalised to the upright photo as [x_min, y_min, width, height], top-left origin."""

    category: str
    conf: float
    bbox: list[float]
    probs: NotRequired[list[float]]                        # box classification (before the ensemble)
    classifications: NotRequired[list[list[str | float]]]  # [[class id, conf], ...] in MD JSON


def record_key(rec: ImageRecord) -> str:
    """What keys a photo in run journals and service shards: path and content."""
    return f"{rec.rel_path}|{rec.sha256 or ''}"
