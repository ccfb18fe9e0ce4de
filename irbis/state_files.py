"""irbis's own SQLite state (catalogs, feature caches) checked on open and rebuilt when corrupt.

Both are caches of what the photos say: a corrupt one is moved aside (never deleted: it may be
wanted for a bug report), the user is told which file, and a fresh one is built from the photos.
A locked or full database is not corruption and is raised as it is.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path
from typing import Callable

_NOT_CORRUPTION = ("locked", "disk is full", "readonly", "unable to open", "disk i/o")


def is_corruption(exc: BaseException) -> bool:
    """A DatabaseError that means the file's content is broken (not busy, full or forbidden)."""
    return isinstance(exc, sqlite3.DatabaseError) and not any(m in str(exc).lower() for m in _NOT_CORRUPTION)


def set_aside(path: Path, what: str, why: str) -> Path:
    """Move a corrupt database (and its -wal / -shm) aside; tell the user which file and why."""
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            src.replace(Path(str(aside) + suffix))
    print(f"irbis: the {what} {path} was corrupt ({why}); moved to {aside} and rebuilt from the photos",
          file=sys.stderr, flush=True)
    return aside


def open_checked(path: Path, opener: Callable[[], sqlite3.Connection], what: str,
                 integrity: bool = True) -> sqlite3.Connection:
    """``opener()`` after an integrity check (``PRAGMA quick_check`` when ``integrity``, else only the
    schema is read); a corrupt file is set aside and ``opener()`` builds a fresh one."""
    db = None
    try:
        db = opener()
        if integrity:
            rows = db.execute("PRAGMA quick_check").fetchall()
            if [tuple(r) for r in rows] != [("ok",)]:
                db.close()
                set_aside(path, what, "integrity check: " + "; ".join(str(r[0]) for r in rows[:3]))
                return opener()
        return db
    except sqlite3.DatabaseError as exc:
        if not is_corruption(exc):
            raise
        if db is not None:
            db.close()
        set_aside(path, what, str(exc))
        return opener()
