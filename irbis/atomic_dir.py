"""Atomic directory writes: build every file in a hidden sibling folder, fsync, then rename it into
place. A crash or an error leaves the previous folder (or nothing) behind, never half a package."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def check_replaceable(path: str | os.PathLike, replace_marker: str | None = None) -> None:
    """Raise FileExistsError unless ``path`` is absent, an empty folder, or a folder holding
    ``replace_marker`` (what :func:`atomic_directory` may replace); commands call it before work."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise FileExistsError(f"{path} exists and is not a folder")
        if any(path.iterdir()) and not (replace_marker and any(path.glob(replace_marker))):
            raise FileExistsError(f"{path} is a folder with other files in it; choose a new or empty folder")


@contextmanager
def atomic_directory(path: str | os.PathLike, replace_marker: str | None = None) -> Iterator[Path]:
    """Yield a temporary folder; on success it becomes ``path``.

    An existing ``path`` is replaced only when it is empty or holds ``replace_marker`` (a file a
    previous write of the same kind left, e.g. ``datapackage.json``, or a glob such as
    ``deployment=*`` for a partitioned Parquet dataset); otherwise nothing is touched. Every file
    written below the temporary folder is fsynced before the rename.
    """
    path = Path(path)
    check_replaceable(path, replace_marker)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        yield tmp
        for f in tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
