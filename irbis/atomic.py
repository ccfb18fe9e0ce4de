"""Atomic file writes: temp file in the same folder, fsync, rename. Readers and crashes never
see half a file; an interrupted write leaves the previous version in place."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable


def current_umask() -> int:
    """The process umask (from /proc on Linux, thread-safe; else by setting it and setting it back)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[IO], None] | bytes | str,
                 text: bool = False) -> Path:
    """Write ``path`` atomically. ``write`` is the content (bytes / str) or a function that writes
    to the open file (binary, or text with ``text=True``: UTF-8, no newline translation)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(write, str):
        write, text = write.encode("utf-8", "surrogateescape"), False
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())   # mkstemp makes 0600: give the mode open() would
        opened: IO[Any] = (os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") if text
                           else os.fdopen(fd, "wb"))
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
