"""Info-strip fields in the catalog (``irbis ingest --read-strips``).

A ``strips`` table beside ``images`` in the same SQLite file, one row per image. Photos without
an EXIF time take the strip's time (``images.datetime_original``, marked in ``strips.time_used``)
and their deployments' sequences are rebuilt.
"""

from __future__ import annotations

from pathlib import Path

from .catalog import Catalog
from .ingest.sequences import build_sequences
from .strips_run import StripReport, read_photos

SCHEMA = """
CREATE TABLE IF NOT EXISTS strips (
    image_id INTEGER PRIMARY KEY REFERENCES images(id),
    sha256 TEXT,                           -- the file read; a changed file is read again
    strip_datetime TEXT, temperature_c REAL, camera TEXT,
    burst_index INTEGER, burst_size INTEGER, raw_text TEXT, failure TEXT,
    layout TEXT, date_order TEXT, strip_minus_exif_s INTEGER,
    time_used INTEGER NOT NULL DEFAULT 0   -- 1: the photo had no EXIF time and took this one
);
"""
FIELDS = ["strip_datetime", "temperature_c", "camera", "burst_index", "burst_size", "raw_text", "failure",
          "layout", "date_order", "strip_minus_exif_s"]


def read_strips_into_catalog(catalog: Catalog, root: str | Path, threads: int = 1,
                             progress: bool = True) -> tuple[StripReport, int]:
    """OCR the strips of the catalogued photos below ``root`` not read yet (or changed since).

    Returns the report (rows of the photos read now) and how many photos took the strip time.
    """
    from .stages.strip_ocr import StripReader
    reader = StripReader(threads=threads)  # fails before any work when the extra is missing
    root = Path(root).resolve()
    catalog.db.executescript(SCHEMA)
    records = [r for r in catalog.images(root) if not r.failure]
    done = {row[0] for row in catalog.db.execute(
        "SELECT s.image_id FROM strips s JOIN images i ON i.id = s.image_id "
        "WHERE i.root = ? AND s.sha256 IS i.sha256", (str(root),))}
    todo = [r for r in records if r.id not in done]
    by_rel = {r.rel_path: r for r in todo}
    deployment = {r.rel_path: r.deployment for r in todo}
    report = read_photos([Path(r.path) for r in todo], root, deployment.__getitem__, reader, progress=progress)
    used, touched = 0, set()
    with catalog.transaction():
        for row in report.rows:
            rec = by_rel[row["file"]]
            take = bool(row.get("strip_datetime") and not row.get("exif_datetime"))
            catalog.db.execute(
                f"INSERT OR REPLACE INTO strips(image_id, sha256, {', '.join(FIELDS)}, time_used) "
                f"VALUES (?, ?, {', '.join('?' * len(FIELDS))}, ?)",
                [rec.id, rec.sha256, *[row.get(c) for c in FIELDS], int(take)])
            if take:
                catalog.db.execute("UPDATE images SET datetime_original=? WHERE id=? AND datetime_original IS NULL",
                                   (row["strip_datetime"], rec.id))
                used += 1
                touched.add(rec.deployment)
        gap = float(catalog.get_meta("sequence_gap_s") or 60.0)
        offsets = catalog.deployments()
        for dep in sorted(touched):
            frames = [(r[0], r[1], r[2]) for r in catalog.iter_deployment_frames(dep)]
            frame_rows, seq_rows = build_sequences(dep, frames, gap, offsets.get(dep, 0.0))
            catalog.replace_sequences(dep, frame_rows, seq_rows)
    return report, used


def strip_rows(catalog: Catalog) -> dict[str, dict]:
    """Absolute photo path -> its strip fields (empty when strips were never read: reading a catalog
    never writes to it)."""
    if catalog.db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='strips'").fetchone() is None:
        return {}
    cur = catalog.db.execute(f"SELECT i.path, {', '.join('s.' + c for c in FIELDS)}, s.time_used "
                             "FROM strips s JOIN images i ON i.id = s.image_id")
    names = ["path", *FIELDS, "time_used"]
    return {r[0]: dict(zip(names, r, strict=False)) for r in cur}


STRIP_COLUMNS = ["strip_datetime", "temperature_c"]


def add_strip_columns(catalog: Catalog, paths: list[str], header: list[str],
                      rows: list[list]) -> tuple[list[str], list[list]]:
    """Append strip_datetime and temperature_c to per-photo CSV rows (same order as ``paths``)
    when the catalog holds strips for any of these photos; unchanged otherwise."""
    found = strip_rows(catalog)
    if not any(p in found for p in paths):
        return header, rows
    extra = [[("" if found.get(p, {}).get(c) is None else found[p][c]) for c in STRIP_COLUMNS] for p in paths]
    return header + STRIP_COLUMNS, [r + e for r, e in zip(rows, extra, strict=True)]
