"""What flows through irbis: a photo record, a detection, a classification.

Defined once here; the catalog produces :class:`ImageRecord`, stages produce
:class:`Detection` dicts (the MegaDetector batch-format shape, so they are written as they are),
and classifiers produce probability rows over a bundle's classes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(//|/)")


def is_url(path: object) -> bool:
    """A location with a scheme (``file:///...``, ``s3a://bucket/...``, ``hdfs://...``): photos the
    spark engine reads itself (``binaryFile``), not a path of this machine."""
    return isinstance(path, str) and bool(_URL.match(path)) and not re.match(r"[A-Za-z]:[\\/]", path)


@dataclass(frozen=True)
class PhotoBytes:
    """A photo's bytes already read (by Spark's ``binaryFile`` source), where a path would go:
    :func:`irbis.imageio.open_image` decodes them as it decodes a file. ``name``: its URL."""

    name: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class ImageRecord:
    """One photo as the catalog knows it."""

    id: int
    path: str                 # absolute path, or the URL of a photo read by the spark engine
    root: str                 # the ingested folder (or URL)
    rel_path: str             # relative to root, '/' separated
    deployment: str
    sha256: str | None        # content hash at ingest (None: unreadable)
    taken_at: str | None      # corrected EXIF time, ISO 8601 without zone
    sequence_id: str | None
    width: int | None
    height: int | None
    failure: str | None       # why the file cannot be read, None when fine
    # the photo's bytes when an engine read them itself (binaryFile); never stored or sent back
    content: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def source(self) -> "str | PhotoBytes":
        """What a stage's ``prepare`` decodes: the bytes already read, else the path."""
        return self.path if self.content is None else PhotoBytes(self.path, self.content)


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
