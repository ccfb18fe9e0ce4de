"""Atomic file writes: temp file in the same folder, fsync, rename. Readers and crashes never
see half a file; an interrupted write leaves the previous version in place."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable


def atomic_write(path: str | os.PathLike, write: Callable[[IO], None] | bytes | str,
                 text: bool = False) -> Path:
    """Write ``path`` atomically. ``write`` is the content (bytes / str) or a function that writes
    to the open file (binary, or text with ``text=True``: UTF-8, no newline translation)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(write, str):
        write, text = write.encode("utf-8"), False
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        opened: IO[Any] = os.fdopen(fd, "w", encoding="utf-8", newline="") if text else os.fdopen(fd, "wb")
        with opened as fh:
            if isinstance(write, bytes):
                fh.write(write)
            else:
                write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_csv_atomic(path: str | os.PathLike, header: list[str], rows: list[list]) -> None:
    """A CSV (UTF-8, header first) written atomically."""
    import csv

    def write(fh) -> None:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    atomic_write(path, write, text=True)
