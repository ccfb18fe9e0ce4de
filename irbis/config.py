"""Where irbis keeps its files: one home folder, overridable with IRBIS_HOME."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def irbis_home() -> Path:
    """The folder for caches and default catalogs (``$IRBIS_HOME`` or ``~/.cache/irbis``)."""
    env = os.environ.get("IRBIS_HOME")
    if env:
        home = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        home = Path(base) / "irbis"
    home.mkdir(parents=True, exist_ok=True)
    return home


def default_catalog_path(photos_dir: str | os.PathLike) -> Path:
    """One catalog per photo folder, kept under the irbis home (photo folders may be read-only)."""
    from .catalog import root_key
    key = root_key(photos_dir)     # a URL (photos read by the spark engine) is kept as given
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    folder = irbis_home() / "catalogs"
    folder.mkdir(parents=True, exist_ok=True)
    name = key.rsplit("/", 1)[-1] if "/" in key else key
    return folder / f"{name or 'root'}-{digest}.sqlite"


def feature_cache_path() -> Path:
    return irbis_home() / "features.sqlite"
