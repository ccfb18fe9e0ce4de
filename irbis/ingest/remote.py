"""Ingest of photos the spark engine reads by URL (``file://``, ``s3a://``, ``hdfs://``, ...).

The driver never opens these files: the engine lists them (URL, size, modification time) and
reads the new or changed ones on the executors (content hash, EXIF time, size, failure: what
:func:`irbis.ingest.metadata.read_metadata` gives for a file). This module turns those facts
into catalog rows and sequences exactly as :func:`irbis.ingest.ingest_folder` does for a
folder, so records, sequences, deployments and every output built from them are the same.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from typing import Callable, Protocol
from urllib.parse import urlsplit

from ..catalog import Catalog, root_key
from ..config import default_catalog_path
from ..entries import size_problem
from ..imageio import MAX_FILE_BYTES
from ..records import ImageRecord, is_url
from . import DEFAULT_SEQUENCE_GAP_S, IngestError, IngestReport, deployment_for, ingest_folder, rebuild_sequences

UNREAD = ("could not be read from storage (deleted after it was listed, or unreadable); "
          "re-run to try again")


class FileReader(Protocol):
    """What reads photos by URL: the spark engine."""

    def list_photos(self, url: str) -> list[tuple[str, int, float]]:
        """(URL, size in bytes, modification time in seconds) of every photo below ``url``."""

    def photo_metadata(self, urls: list[str]) -> dict[str, dict]:
        """URL -> :func:`~irbis.ingest.metadata.read_metadata_bytes` of each file (missing: unread)."""


def url_path(url: str) -> str:
    """The path part of a URL, without a trailing slash (``file:///a/b/`` and ``file:/a/b`` -> ``/a/b``)."""
    return urlsplit(url).path.rstrip("/")


def relative_url(url: str, root: str) -> str:
    """``url`` relative to ``root``, '/' separated (Spark may qualify the scheme or host of the root)."""
    base, path = url_path(root), url_path(url)
    if not path.startswith(base + "/"):
        raise IngestError(f"{url} is not below {root}")
    return path[len(base) + 1:]


def ingest_url(url: str, catalog: Catalog, reader: object, sequence_gap_s: float = DEFAULT_SEQUENCE_GAP_S,
               progress: Callable[[str], None] | None = None) -> IngestReport:
    """Catalogue the photos below ``url`` (new or changed files only, read on the executors)."""
    if not (callable(getattr(reader, "list_photos", None)) and callable(getattr(reader, "photo_metadata", None))):
        raise ValueError(f"{url} is a URL: photos read by URL (Spark's binaryFile source) need --engine spark; "
                         f"with the local engine give a folder of this machine")
    root = root_key(url)
    listing = sorted(reader.list_photos(url))      # type: ignore[attr-defined]
    report = IngestReport(root=root, catalog=str(catalog.path), scanned=len(listing))
    known = catalog.known_files()
    todo = [(u, size, mtime) for u, size, mtime in listing if known.get(u) != (size, mtime)]
    report.unchanged = len(listing) - len(todo)
    if progress:
        progress(f"ingest {url}: {len(listing)} photos, {len(todo)} new or changed (read on the cluster)")
    # files over the limit are not read (Spark refuses files over 2 GB, irbis anything over 512 MB)
    too_large = {u: {"failure": size_problem(size, MAX_FILE_BYTES)} for u, size, _ in todo if size > MAX_FILE_BYTES}
    to_read = [u for u, _, _ in todo if u not in too_large]
    facts = reader.photo_metadata(to_read) if to_read else {}  # type: ignore[attr-defined]
    facts.update(too_large)
    touched: set[str] = set()
    with catalog.transaction():
        touched |= catalog.remove_missing(root, [u for u, _, _ in listing])
    root_name = PurePosixPath(url_path(url)).name or "root"
    with catalog.transaction():
        for u, size, mtime in todo:
            meta = facts.get(u) or {"failure": UNREAD}
            rel = relative_url(u, url)
            dep = deployment_for(rel, PurePosixPath(root_name), None)   # type: ignore[arg-type]
            catalog.ensure_deployment(dep)
            kind = "updated" if u in known else "added"
            catalog.upsert_image({"path": u, "root": root, "rel_path": rel, "deployment": dep,
                                  **meta, "size": size, "mtime": mtime})
            setattr(report, kind, getattr(report, kind) + 1)
            touched.add(dep)
        rebuild_sequences(catalog, touched, sequence_gap_s)
    records = catalog.images(root)
    report.failures = {r.rel_path: r.failure for r in records if r.failure}
    report.deployments = len({r.deployment for r in records})
    report.sequences = len({r.sequence_id for r in records})
    return report


def ingest_photos(photos_dir, catalog: Catalog, engine: object = None,
                  sequence_gap_s: float = DEFAULT_SEQUENCE_GAP_S, progress: bool = False) -> IngestReport:
    """A folder of this machine (:func:`~irbis.ingest.ingest_folder`) or a URL the engine reads
    (:func:`ingest_url`; only the spark engine does): what featurize, predict, detect and run call."""
    if is_url(str(photos_dir)):
        return ingest_url(str(photos_dir), catalog, engine, sequence_gap_s)
    return ingest_folder(photos_dir, catalog, sequence_gap_s=sequence_gap_s, progress=progress)


def folder_records(photos_dir: str | os.PathLike, catalog_path: str | os.PathLike | None = None,
                   sequence_gap_s: float | None = None, progress: bool = False,
                   engine: object = None) -> list[ImageRecord]:
    """Ingest ``photos_dir`` (new or changed files only) and return its records. A URL
    (``s3a://``, ``file:///``, ...) is listed and read by ``engine`` (the spark engine only)."""
    with Catalog(catalog_path or default_catalog_path(photos_dir)) as catalog:
        gap = DEFAULT_SEQUENCE_GAP_S if sequence_gap_s is None else sequence_gap_s
        ingest_photos(photos_dir, catalog, engine, sequence_gap_s=gap, progress=progress)
        return catalog.images(photos_dir)
