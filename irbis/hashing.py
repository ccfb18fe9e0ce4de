"""Content hashes: the SHA-256 of a file's bytes keys feature caches, run journals and results."""

from __future__ import annotations

import hashlib
import os


def content_hash(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of the file's bytes (the cache key for features: renames keep their features)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
