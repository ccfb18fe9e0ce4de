"""Atomic directory writes: build every file in a hidden sibling folder, fsync, then rename it into
place. A crash or an error leaves the previous folder (or nothing) behind, never half a package."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_directory(path: str | os.PathLike, replace_marker: str | None = None) -> Iterator[Path]:
    """Yield a temporary folder; on success it becomes ``path``.

    An existing ``path`` is replaced only when it is empty or holds ``replace_marker`` (a file a
    previous write of the same kind left, e.g. ``datapackage.json``); otherwise nothing is touched.
    """
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise FileExistsError(f"{path} exists and is not a folder")
        if any(path.iterdir()) and not (replace_marker and (path / replace_marker).is_file()):
            raise FileExistsError(f"{path} is a folder with other files in it; choose a new or empty folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        yield tmp
        for f in tmp.iterdir():
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
