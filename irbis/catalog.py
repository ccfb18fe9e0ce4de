"""The survey catalog: images, deployments (cameras) and sequences (bursts) in one SQLite file."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Iterable, Iterator

from .records import ImageRecord, is_url
from .state_files import open_checked

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS deployments (
    name TEXT PRIMARY KEY,
    clock_offset_s REAL NOT NULL DEFAULT 0,
    latitude REAL, longitude REAL
);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,          -- absolute path
    root TEXT NOT NULL,                 -- the ingested folder
    rel_path TEXT NOT NULL,             -- path relative to root, '/' separated
    deployment TEXT NOT NULL REFERENCES deployments(name),
    sha256 TEXT, size INTEGER, mtime REAL,
    datetime_original TEXT,             -- camera clock, ISO 8601, no zone
    taken_at TEXT,                      -- datetime_original + the deployment's clock offset
    make TEXT, model TEXT, serial TEXT,
    width INTEGER, height INTEGER, orientation INTEGER,
    failure TEXT,                       -- why the file cannot be read, NULL when fine
    sequence_id TEXT, frame_index INTEGER
);
CREATE INDEX IF NOT EXISTS images_deployment ON images(deployment);
CREATE INDEX IF NOT EXISTS images_sha ON images(sha256);
CREATE TABLE IF NOT EXISTS sequences (
    id TEXT PRIMARY KEY,
    deployment TEXT NOT NULL,
    start TEXT, end TEXT,
    n_frames INTEGER NOT NULL
);
"""


_RECORD_COLUMNS = ", ".join(f for f in ImageRecord.__dataclass_fields__ if f != "content")   # bytes are never stored


def _enc(value):
    """A text value as SQLite can store it: a name that is not valid UTF-8 (Python keeps its bytes
    as surrogates) is stored as its raw bytes, so it round-trips into the outputs."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return os.fsencode(value)
    return value


class _Row(tuple):
    """A row with raw-byte names decoded back (see :func:`_enc`); indexable by position or name."""

    _names: list[str]

    def __new__(cls, cursor, row):
        obj = super().__new__(cls, (os.fsdecode(v) if isinstance(v, bytes) else v for v in row))
        obj._names = [d[0] for d in cursor.description]
        return obj

    def __getitem__(self, key):
        return super().__getitem__(self._names.index(key) if isinstance(key, str) else key)

    def keys(self) -> list[str]:
        return list(self._names)


class Catalog:
    """A SQLite catalog. Safe to open from several processes (WAL, busy timeout)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = open_checked(self.path, self._open, "catalog")

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        db.row_factory = _Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        return db

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transactions -----------------------------------------------------------------
    def transaction(self):
        return _Transaction(self.db)

    # -- deployments -------------------------------------------------------------------
    def ensure_deployment(self, name: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO deployments(name) VALUES (?)", (_enc(name),))

    def set_deployment(self, name: str, clock_offset_s: float | None = None,
                       latitude: float | None = None, longitude: float | None = None) -> bool:
        """Update a deployment; returns True when the clock offset changed."""
        self.ensure_deployment(name)
        name = _enc(name)
        row = self.db.execute("SELECT clock_offset_s FROM deployments WHERE name=?", (name,)).fetchone()
        changed = clock_offset_s is not None and float(row[0]) != float(clock_offset_s)
        if clock_offset_s is not None:
            self.db.execute("UPDATE deployments SET clock_offset_s=? WHERE name=?", (clock_offset_s, name))
        if latitude is not None and longitude is not None:
            self.db.execute("UPDATE deployments SET latitude=?, longitude=? WHERE name=?",
                            (latitude, longitude, name))
        return changed

    def deployment_rows(self) -> list[sqlite3.Row]:
        """Every deployment: name, clock_offset_s, latitude, longitude."""
        return self.db.execute("SELECT name, clock_offset_s, latitude, longitude FROM deployments "
                               "ORDER BY name").fetchall()

    def deployments(self) -> dict[str, float]:
        return {r[0]: r[1] for r in self.db.execute("SELECT name, clock_offset_s FROM deployments")}

    # -- images ------------------------------------------------------------------------
    def known_files(self) -> dict[str, tuple[int, float]]:
        """path -> (size, mtime) of every catalogued file."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT path, size, mtime FROM images")}

    def upsert_image(self, values: dict) -> None:
        cols = list(values)
        updates = ", ".join(f"{c}=excluded.{c}" for c in cols if c != "path")
        self.db.execute(
            f"INSERT INTO images({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT(path) DO UPDATE SET {updates}", [_enc(values[c]) for c in cols])

    def remove_missing(self, root: str | os.PathLike, present: Iterable[str]) -> set[str]:
        """Forget images under ``root`` whose path is not in ``present`` (deleted or renamed files);
        returns the deployments they belonged to (their sequences need rebuilding)."""
        keep = {str(p) for p in present}
        gone = [(r[0], r[1], r[2]) for r in self.db.execute("SELECT id, path, deployment FROM images WHERE root=?",
                                                             (_enc(root_key(root)),))
                if r[1] not in keep]
        self.db.executemany("DELETE FROM images WHERE id=?", [(g[0],) for g in gone])
        return {g[2] for g in gone}

    def images(self, root: str | os.PathLike | None = None,
               paths: Iterable[str] | None = None) -> list[ImageRecord]:
        """Images under ``root`` (or with the given absolute paths), in rel_path order."""
        if paths is not None:
            wanted = [str(p) for p in paths]
            out = []
            for i in range(0, len(wanted), 500):
                chunk = [_enc(p) for p in wanted[i:i + 500]]
                out += [ImageRecord(*r) for r in self.db.execute(
                    f"SELECT {_RECORD_COLUMNS} FROM images WHERE path IN ({','.join('?' * len(chunk))})",
                    chunk)]
            order = {p: i for i, p in enumerate(wanted)}
            return sorted(out, key=lambda r: order[r.path])
        if root is None:
            rows = self.db.execute(f"SELECT {_RECORD_COLUMNS} FROM images ORDER BY root, rel_path")
        else:
            rows = self.db.execute(f"SELECT {_RECORD_COLUMNS} FROM images WHERE root=? ORDER BY rel_path",
                                   (_enc(root_key(root)),))
        return [ImageRecord(*r) for r in rows]

    def iter_deployment_frames(self, deployment: str) -> Iterator[sqlite3.Row]:
        return iter(self.db.execute(
            "SELECT id, rel_path, datetime_original FROM images WHERE deployment=?", (_enc(deployment),)).fetchall())

    # -- sequences ---------------------------------------------------------------------
    def replace_sequences(self, deployment: str, frames: list[tuple[int, str | None, str, int]],
                          sequences: list[tuple[str, str | None, str | None, int]]) -> None:
        """frames: (image id, taken_at, sequence id, frame index); sequences: (id, start, end, n)."""
        deployment = _enc(deployment)
        self.db.execute("DELETE FROM sequences WHERE deployment=?", (deployment,))
        self.db.executemany("INSERT INTO sequences(id, deployment, start, end, n_frames) VALUES (?,?,?,?,?)",
                            [(_enc(s[0]), deployment, s[1], s[2], s[3]) for s in sequences])
        self.db.executemany("UPDATE images SET taken_at=?, sequence_id=?, frame_index=? WHERE id=?",
                            [(f[1], _enc(f[2]), f[3], f[0]) for f in frames])

    def sequences(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM sequences ORDER BY deployment, start, id").fetchall()

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


def root_key(root: str | os.PathLike) -> str:
    """How a photo folder is stored: its resolved path, or a URL (photos read by the spark engine) as given."""
    return str(root).rstrip("/") if is_url(root) else str(Path(root).resolve())


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, *rest):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
