"""Feature cache on disk, keyed by (content hash, featurizer id, flipped).

The featurizer id holds the backbone's weights digest and the layer, so a re-run computes only
photos it has not seen, renamed or copied photos reuse their features, and a different
backbone never reads another's vectors.

Each vector is stored with its CRC-32: a vector damaged on disk is dropped and computed again,
never served; a cache file SQLite cannot read is set aside and rebuilt (:mod:`irbis.state_files`).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import zlib
from pathlib import Path

import numpy as np

from .state_files import is_corruption, open_checked, set_aside


class FeatureCache:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = open_checked(self.path, self._open, "feature cache", integrity=False)
        self.hits = 0
        self.misses = 0
        self.damaged = 0

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=60, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS features (sha256 TEXT, featurizer TEXT, flipped INTEGER, "
                   "vec BLOB NOT NULL, crc INTEGER, PRIMARY KEY (sha256, featurizer, flipped)) WITHOUT ROWID")
        if "crc" not in [r[1] for r in db.execute("PRAGMA table_info(features)")]:
            db.execute("ALTER TABLE features ADD COLUMN crc INTEGER")   # caches written before checksums
        db.commit()
        return db

    def _recover(self, exc: sqlite3.DatabaseError) -> None:
        """A cache SQLite cannot read: set it aside, start an empty one (features are recomputed)."""
        if not is_corruption(exc):
            raise exc
        self.db.close()
        set_aside(self.path, "feature cache", str(exc))
        self.db = self._open()

    def get_many(self, featurizer: str, keys: list[tuple[str, bool]]) -> dict[tuple[str, bool], np.ndarray]:
        try:
            return self._get_many(featurizer, keys)
        except sqlite3.DatabaseError as exc:
            self._recover(exc)
            self.misses += len(set(keys))
            return {}

    def _get_many(self, featurizer: str, keys: list[tuple[str, bool]]) -> dict[tuple[str, bool], np.ndarray]:
        out, bad = {}, []
        for i in range(0, len(keys), 400):
            chunk = keys[i:i + 400]
            shas = sorted({k[0] for k in chunk})
            rows = self.db.execute(
                f"SELECT sha256, flipped, vec, crc FROM features WHERE featurizer=? AND sha256 IN "
                f"({','.join('?' * len(shas))})", [featurizer, *shas]).fetchall()
            wanted = set(chunk)
            for sha, flipped, vec, crc in rows:
                key = (sha, bool(flipped))
                if key not in wanted:
                    continue
                v = np.frombuffer(vec, dtype=np.float32) if isinstance(vec, bytes) and len(vec) % 4 == 0 else None
                if v is None or (crc is not None and zlib.crc32(vec) != crc) or not np.isfinite(v).all():
                    bad.append((sha, featurizer, flipped))
                    continue
                out[key] = v.copy()
        if bad:
            self.damaged += len(bad)
            print(f"irbis: {len(bad)} damaged vector(s) in the feature cache {self.path} dropped; "
                  f"they are computed again", file=sys.stderr, flush=True)
            self.db.executemany("DELETE FROM features WHERE sha256=? AND featurizer=? AND flipped=?", bad)
            self.db.commit()
        self.hits += len(out)
        self.misses += len(set(keys)) - len(out)
        return out

    def put_many(self, featurizer: str, items: list[tuple[str, bool, np.ndarray]]) -> None:
        rows = []
        for sha, flip, v in items:
            blob = np.asarray(v, np.float32).tobytes()
            rows.append((sha, featurizer, int(flip), blob, zlib.crc32(blob)))
        try:
            self._put(rows)
        except sqlite3.DatabaseError as exc:
            self._recover(exc)
            self._put(rows)

    def _put(self, rows: list[tuple]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO features(sha256, featurizer, flipped, vec, crc) "
                            "VALUES (?, ?, ?, ?, ?)", rows)
        self.db.commit()

    def count(self, featurizer: str | None = None) -> int:
        if featurizer is None:
            return self.db.execute("SELECT COUNT(*) FROM features").fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM features WHERE featurizer=?", (featurizer,)).fetchone()[0]

    def close(self) -> None:
        self.db.close()
