"""The dashboard's SQLite index: surveys, photos, detections, sites and reviewers' corrections.

A survey is one MegaDetector batch results file (``irbis detect`` / ``irbis run`` / ``irbis watch``
output, or a completed batch-API job). Loading a survey replaces its photo and detection rows in
one transaction; corrections are keyed by (survey name, file), so they survive reloads and restarts.
Aggregations run in SQL over indexed columns (:mod:`irbis.dashboard.queries`).
"""

from __future__ import annotations

import csv
import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..records import CATEGORY_NAMES

SCHEMA_VERSION = 5
SCHEMA = """
CREATE TABLE IF NOT EXISTS surveys (
    id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, source TEXT, photos_root TEXT,
    mtime REAL, classes TEXT
);
CREATE TABLE IF NOT EXISTS photos (
    id INTEGER PRIMARY KEY, survey_id INTEGER NOT NULL, file TEXT NOT NULL, path TEXT, site TEXT,
    taken_at TEXT, day TEXT, hour INTEGER, seq TEXT, failure TEXT,
    max_conf REAL NOT NULL DEFAULT 0, uncertainty REAL NOT NULL DEFAULT 0,
    max_animal REAL NOT NULL DEFAULT 0, max_person REAL NOT NULL DEFAULT 0, max_vehicle REAL NOT NULL DEFAULT 0,
    UNIQUE(survey_id, file)
);
CREATE INDEX IF NOT EXISTS photos_site ON photos(survey_id, site, taken_at);
CREATE INDEX IF NOT EXISTS photos_seq ON photos(survey_id, seq);
CREATE INDEX IF NOT EXISTS photos_unc ON photos(uncertainty);
CREATE TABLE IF NOT EXISTS detections (
    photo_id INTEGER NOT NULL, survey_id INTEGER NOT NULL, idx INTEGER NOT NULL, category TEXT NOT NULL,
    label TEXT NOT NULL, conf REAL NOT NULL, label_conf REAL, x REAL, y REAL, w REAL, h REAL,
    site TEXT, hour INTEGER, day TEXT, ts INTEGER          -- the photo's, copied: views need no join
);
CREATE INDEX IF NOT EXISTS det_label ON detections(label, conf, survey_id, photo_id);
CREATE INDEX IF NOT EXISTS det_cat ON detections(category, conf, survey_id, photo_id);
CREATE INDEX IF NOT EXISTS det_photo ON detections(photo_id);
-- covering indexes, one per view: activity by hour, detections over time, sites / events
CREATE INDEX IF NOT EXISTS det_hour ON detections(label, hour, photo_id, conf, survey_id, category);
CREATE INDEX IF NOT EXISTS det_day ON detections(day, photo_id, conf, survey_id, label, category);
CREATE INDEX IF NOT EXISTS det_site ON detections(site, ts, photo_id, conf, survey_id, label, category);
CREATE INDEX IF NOT EXISTS det_count ON detections(survey_id, label, photo_id, conf, category);
CREATE TABLE IF NOT EXISTS sites (
    site TEXT PRIMARY KEY, latitude REAL, longitude REAL, start TEXT, end TEXT
);
CREATE TABLE IF NOT EXISTS corrections (
    id INTEGER PRIMARY KEY, survey TEXT NOT NULL, file TEXT NOT NULL, kind TEXT NOT NULL,
    value TEXT, box INTEGER, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS corr_photo ON corrections(survey, file);
"""


@dataclass
class PhotoMeta:
    """What the catalog knows of a photo beyond the results file."""

    path: str | None = None
    site: str | None = None
    taken_at: str | None = None
    seq: str | None = None


def _hour_day(taken_at: str | None) -> tuple[int | None, str | None]:
    if not taken_at:
        return None, None
    try:
        t = datetime.fromisoformat(taken_at)
    except ValueError:
        return None, None
    return t.hour, t.date().isoformat()


def photo_rows(results: dict, meta: dict[str, PhotoMeta]) -> Iterable[tuple[tuple, list[tuple]]]:
    """(photo row, detection rows) per image of an MD results document."""
    classes = results.get("classification_categories") or {}
    for im in results.get("images", []):
        file = im["file"]
        m = meta.get(file) or PhotoMeta()
        dets = im.get("detections") or []
        hour, day = _hour_day(m.taken_at)
        site = m.site or (file.split("/")[0] if "/" in file else "(none)")
        rows, best, unc = [], 0.0, 0.0
        for i, d in enumerate(dets):
            cat = str(d.get("category"))
            label, label_conf = CATEGORY_NAMES.get(cat, cat), None
            cls = d.get("classifications") or []
            if cat == "1" and cls:
                top = max(cls, key=lambda c: c[1])
                label, label_conf = classes.get(str(top[0]), str(top[0])), float(top[1])
            x, y, w, h = (float(v) for v in d.get("bbox", (0, 0, 0, 0)))
            conf = float(d.get("conf", 0.0))
            rows.append((i, cat, label, conf, label_conf, x, y, w, h))
            best = max(best, conf)
            # uncertainty: 1 at a coin flip, 0 when sure; a box's detection and its class both count
            unc = max(unc, 1 - abs(2 * conf - 1), 0 if label_conf is None else (1 - label_conf) * conf)
        failure = im.get("failure")
        if failure:
            unc = 0.0
        elif not dets:
            unc = 0.0
        ts = None if hour is None or not m.taken_at else \
            int(datetime.fromisoformat(m.taken_at).replace(tzinfo=UTC).timestamp())
        top = {c: max((r[3] for r in rows if r[1] == c), default=0.0) for c in ("1", "2", "3")}
        yield ((file, m.path, site, m.taken_at, day, hour, m.seq or im.get("seq_id"), failure, best, unc,
                top["1"], top["2"], top["3"]),
               [(*r, site, hour, day, ts) for r in rows])


class Index:
    """One SQLite file (WAL) shared by the web server's threads; writes are serialised."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        if self.db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            # photos and detections are rebuilt from the surveys' results; corrections and sites stay
            self.db.executescript("DROP TABLE IF EXISTS detections; DROP TABLE IF EXISTS photos;")
            if self._has("surveys"):
                self.db.execute("DELETE FROM surveys")
        self.db.executescript(SCHEMA)
        self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self.lock = threading.RLock()
        self.generation = 0            # bumps on every change; the page polls it to refresh

    def _has(self, table: str) -> bool:
        return bool(self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone())

    def close(self) -> None:
        self.db.close()

    def query(self, sql: str, args: Iterable = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.db.execute(sql, tuple(args)).fetchall()

    # -- surveys --------------------------------------------------------------------------
    def load_survey(self, name: str, results: dict, meta: dict[str, PhotoMeta], source: str,
                    photos_root: str | None, mtime: float | None) -> int:
        """Replace survey ``name`` with ``results``; returns its photo count."""
        classes = results.get("classification_categories") or {}
        import json
        with self.lock:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT id FROM surveys WHERE name=?", (name,)).fetchone()
                if row:
                    sid = row[0]
                    db.execute("DELETE FROM detections WHERE survey_id=?", (sid,))
                    db.execute("DELETE FROM photos WHERE survey_id=?", (sid,))
                    db.execute("UPDATE surveys SET source=?, photos_root=?, mtime=?, classes=? WHERE id=?",
                               (source, photos_root, mtime, json.dumps(classes), sid))
                else:
                    sid = db.execute("INSERT INTO surveys(name, source, photos_root, mtime, classes) "
                                     "VALUES (?,?,?,?,?)",
                                     (name, source, photos_root, mtime, json.dumps(classes))).lastrowid
                n = 0
                for prow, drows in photo_rows(results, meta):
                    pid = db.execute("INSERT INTO photos(survey_id, file, path, site, taken_at, day, hour, seq, "
                                     "failure, max_conf, uncertainty, max_animal, max_person, max_vehicle) "
                                     "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                     (sid, *prow)).lastrowid
                    db.executemany("INSERT INTO detections VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                   [(pid, sid, *d) for d in drows])
                    n += 1
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("ANALYZE")          # the planner's statistics: covering indexes get chosen
            self.generation += 1
            return n

    def surveys(self) -> list[dict]:
        return [dict(r) for r in self.query("SELECT s.id, s.name, s.source, s.mtime, "
                                            "(SELECT COUNT(*) FROM photos p WHERE p.survey_id=s.id) AS photos "
                                            "FROM surveys s ORDER BY s.name")]

    def survey_mtime(self, name: str) -> float | None:
        rows = self.query("SELECT mtime FROM surveys WHERE name=?", (name,))
        return rows[0]["mtime"] if rows else None

    def known_labels(self) -> set[str]:
        """Every class a correction may name: detection categories, classifier classes, 'empty'."""
        import json
        out = set(CATEGORY_NAMES.values()) | {"empty"}
        for r in self.query("SELECT classes FROM surveys"):
            out |= set(json.loads(r["classes"] or "{}").values())
        return out

    # -- sites ----------------------------------------------------------------------------
    def load_sites(self, rows: Iterable[tuple[str, float | None, float | None, str | None, str | None]]) -> int:
        rows = list(rows)
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT INTO sites VALUES (?,?,?,?,?) ON CONFLICT(site) DO UPDATE SET "
                                "latitude=excluded.latitude, longitude=excluded.longitude, start=excluded.start, "
                                "end=excluded.end", rows)
            self.db.execute("COMMIT")
            self.generation += 1
        return len(rows)

    # -- corrections ----------------------------------------------------------------------
    def add_correction(self, survey: str, file: str, kind: str, value: str | None, box: int | None) -> int:
        now = datetime.now().isoformat(timespec="seconds")
        with self.lock:
            cid = self.db.execute("INSERT INTO corrections(survey, file, kind, value, box, created_at) "
                                  "VALUES (?,?,?,?,?,?)", (survey, file, kind, value, box, now)).lastrowid
            self.generation += 1
            return int(cid or 0)

    def corrections(self, survey: str | None = None, file: str | None = None) -> list[dict]:
        q, args = "SELECT * FROM corrections", []
        if survey is not None:
            q, args = q + " WHERE survey=? AND file=?", [survey, file]
        return [dict(r) for r in self.query(q + " ORDER BY id", args)]


def read_sites_csv(path: str | os.PathLike) -> list[tuple]:
    """Site coordinates from a deployments CSV: ``deployment`` (or Camtrap DP's ``deploymentID`` /
    ``locationName``), ``latitude``, ``longitude``, optional ``start``/``end`` (or
    ``deploymentStart``/``deploymentEnd``) for trap-nights."""
    path = Path(path)
    if path.is_dir():                     # a Camtrap DP package folder
        path = path / "deployments.csv"
    if not path.is_file():
        raise FileNotFoundError(f"deployments file not found: {path}")
    out = []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        key = next((c for c in ("deployment", "deploymentID", "site", "folder") if c in cols), None)
        if key is None or "latitude" not in cols or "longitude" not in cols:
            raise ValueError(f"{path}: needs columns deployment (or deploymentID), latitude, longitude; "
                             f"found {cols}")
        for line, r in enumerate(reader, start=2):
            try:
                lat = float(r["latitude"]) if r.get("latitude") else None
                lon = float(r["longitude"]) if r.get("longitude") else None
            except ValueError:
                raise ValueError(f"{path} line {line}: latitude/longitude must be numbers") from None
            if lat is not None and not -90 <= lat <= 90 or lon is not None and not -180 <= lon <= 180:
                raise ValueError(f"{path} line {line}: latitude/longitude out of range")
            start = r.get("start") or r.get("deploymentStart") or None
            end = r.get("end") or r.get("deploymentEnd") or None
            names = {r[key]} | ({r["locationName"]} if r.get("locationName") else set())
            out += [(n, lat, lon, start, end) for n in names if n]
    return out
