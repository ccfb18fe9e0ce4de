"""Where surveys come from: MD results files on disk, and completed jobs of the batch API's store.

Each source knows its photo folder; the photos are catalogued there (EXIF time, deployment,
bursts; :func:`irbis.ingest.ingest_folder`, idempotent and cached) so the dashboard can place
photos in time and at a site, and serve thumbnails only for files that belong to a survey.
``refresh`` reloads a source whose results file changed (the watcher rewrites its file atomically).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..formats.md_json import read_results
from .index import Index, PhotoMeta


@dataclass
class ResultsSource:
    """One survey: a results file, its name and the folder its ``file`` paths are relative to."""

    name: str
    results: Path
    photos_root: Path | None = None

    def root(self, doc: dict) -> Path | None:
        if self.photos_root is not None:
            return self.photos_root
        given = (doc.get("info", {}).get("irbis") or {}).get("photos_root")
        if given:
            return Path(given)
        # irbis detect PHOTOS --out PHOTOS.json or --out PHOTOS/results.json: look beside the file
        here = self.results.resolve()
        sample = [im["file"] for im in doc.get("images", [])[:5]]
        for cand in (here.parent, here.parent / here.stem):
            if sample and all((cand / f).is_file() for f in sample):
                return cand
        return None


def parse_source(spec: str, photos_root: str | None = None) -> ResultsSource:
    """``[NAME=]RESULTS.json``; the name defaults to the file's stem."""
    name, sep, path = spec.partition("=")
    if not sep:
        name, path = "", spec
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"results file not found: {path}")
    return ResultsSource(name or p.stem, p, Path(photos_root).resolve() if photos_root else None)


def catalog_meta(root: Path, files: list[str]) -> dict[str, PhotoMeta]:
    """EXIF time, deployment and burst of each photo, from irbis's catalog of ``root``."""
    from ..catalog import Catalog
    from ..config import default_catalog_path
    from ..ingest import ingest_folder
    if not root.is_dir():
        return {}
    paths = [root / f for f in files]
    present = [p for p in paths if p.is_file()]
    if not present:
        return {}
    with Catalog(default_catalog_path(root)) as cat:
        ingest_folder(root, cat, progress=False, files=present)
        recs = cat.images(root)
    wanted = set(files)
    return {r.rel_path: PhotoMeta(r.path, r.deployment, r.taken_at, r.sequence_id)
            for r in recs if r.rel_path in wanted}


def load_source(index: Index, src: ResultsSource, force: bool = False) -> int | None:
    """Load (or reload when changed) one results file; None when unchanged."""
    try:
        mtime = src.results.stat().st_mtime
    except FileNotFoundError:
        return None
    if not force and index.survey_mtime(src.name) == mtime:
        return None
    try:
        doc = read_results(src.results)
    except (ValueError, json.JSONDecodeError, OSError) as exc:
        print(f"irbis dashboard: skipping {src.results}: {exc}", file=sys.stderr)
        return None
    root = src.root(doc)
    files = [im["file"] for im in doc.get("images", [])]
    meta = catalog_meta(root, files) if root else {}
    for f in files:          # photos the catalog could not read still belong to the survey
        if f not in meta and root and (root / f).is_file():
            meta[f] = PhotoMeta(str((root / f).resolve()))
    return index.load_survey(src.name, doc, meta, str(src.results), str(root) if root else None, mtime)


def job_sources(state: str | os.PathLike) -> list[ResultsSource]:
    """The completed jobs of a batch-API state folder, one survey each (named by the job's name)."""
    from ..service.store import Store
    db = Path(state) / "jobs.sqlite"
    if not db.is_file():
        return []
    store = Store(db)
    try:
        out = []
        for j in store.list_jobs("completed", 10_000):
            row = store.job(j["job_id"])
            if row is not None and row["result_path"] and Path(row["result_path"]).is_file():
                out.append(ResultsSource(j["name"] or j["job_id"], Path(row["result_path"]), Path(j["root"])))
        return out
    finally:
        store.close()


class Sources:
    """The surveys a dashboard shows: fixed results files plus, optionally, a service's jobs."""

    JOBS_EVERY_S = 5.0                   # the job store is read at most this often

    def __init__(self, index: Index, files: list[ResultsSource], state: str | os.PathLike | None = None):
        self.index, self.files, self.state = index, files, state
        self._jobs: list[ResultsSource] = []
        self._jobs_at = -1e9

    def all(self) -> list[ResultsSource]:
        if self.state and time.monotonic() - self._jobs_at >= self.JOBS_EVERY_S:
            self._jobs, self._jobs_at = job_sources(self.state), time.monotonic()
        return [*self.files, *self._jobs]

    def refresh(self) -> int:
        """Reload what changed; returns how many surveys were (re)loaded."""
        return sum(load_source(self.index, s) is not None for s in self.all())
