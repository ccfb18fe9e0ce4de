"""A MegaDetector results file joined with the catalog it was made from: one record per photo.

Every exchange format (Camtrap DP, COCO Camera Traps, the independent-events table) needs the
same thing: each photo's results next to its catalog facts (deployment, corrected time,
sequence, size, SHA-256). Photos are matched by SHA-256 when the results carry it (renamed or
moved files still match), else by path relative to the ingested folder. Results for other
photos than the catalog's are refused with the count that differ.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..catalog import Catalog, ImageRecord
from ..config import irbis_home
from .md_json import read_results


class SurveyMismatch(ValueError):
    """Results and catalog describe different photos."""


@dataclass
class SurveyPhoto:
    file: str                        # as in the results (relative to the photo folder)
    record: ImageRecord
    detections: list[dict] | None    # None when the photo failed
    failure: str | None = None
    seq_id: str | None = None


@dataclass
class Survey:
    results: dict
    photos: list[SurveyPhoto]
    catalog_path: str
    deployments: dict[str, dict] = field(default_factory=dict)   # name -> {latitude, longitude, clock_offset_s}
    sequences: dict[str, dict] = field(default_factory=dict)     # id -> {deployment, start, end, n_frames}

    @property
    def classes(self) -> dict[str, str]:
        return dict(self.results.get("classification_categories") or {})

    @property
    def categories(self) -> dict[str, str]:
        return dict(self.results.get("detection_categories") or {})


def _mismatch(missing: list[str], extra: list[str], catalog: str) -> SurveyMismatch:
    parts = []
    if missing:
        parts.append(f"{len(missing)} photo(s) in the results are not in the catalog (e.g. {missing[:3]})")
    if extra:
        parts.append(f"{len(extra)} photo(s) of the catalog's folder have no result (e.g. {extra[:3]})")
    return SurveyMismatch(f"results and catalog {catalog} are for different photos: " + "; ".join(parts)
                          + ". Give the catalog of the folder these results were made from (--catalog), "
                            "or finish the run first.")


def join_results(results: dict, records: list[ImageRecord], catalog_label: str = "") -> list[SurveyPhoto]:
    """Pair every results image with exactly one catalog record of one ingested folder."""
    images = results.get("images") or []
    by_sha: dict[str, list[ImageRecord]] = {}
    by_root: dict[str, dict[str, ImageRecord]] = {}
    for r in records:
        by_root.setdefault(r.root, {})[r.rel_path] = r
        if r.sha256:
            by_sha.setdefault(r.sha256, []).append(r)
    # the ingested folder these results belong to: the one that holds most of their files / hashes
    votes: Counter = Counter()
    for im in images:
        for root, rels in by_root.items():
            if im["file"] in rels:
                votes[root] += 1
        for r in by_sha.get(im.get("sha256") or "", []):
            votes[r.root] += 1
    if not votes:
        raise _mismatch([im["file"] for im in images], [], catalog_label)
    root = votes.most_common(1)[0][0]
    rels = by_root[root]
    used: set[str] = set()
    photos, missing = [], []
    for im in images:
        rec = rels.get(im["file"])
        if rec is not None and im.get("sha256") and rec.sha256 and rec.sha256 != im["sha256"]:
            rec = None                                   # same name, other photo
        if rec is None and im.get("sha256"):
            rec = next((r for r in by_sha.get(im["sha256"], []) if r.root == root and r.rel_path not in used),
                       None)
        if rec is None or rec.rel_path in used:
            missing.append(im["file"])
            continue
        used.add(rec.rel_path)
        photos.append(SurveyPhoto(im["file"], rec, im.get("detections"), im.get("failure"), im.get("seq_id")))
    extra = sorted(set(rels) - used)
    if missing or extra:
        raise _mismatch(missing, extra, catalog_label)
    return photos


def find_catalog(results: dict) -> Path:
    """The catalog under $IRBIS_HOME/catalogs that holds every photo of ``results`` (by hash or path)."""
    shas = {im["sha256"] for im in results.get("images", []) if im.get("sha256")}
    files = {im["file"] for im in results.get("images", [])}
    best, best_n = None, 0
    for path in sorted((irbis_home() / "catalogs").glob("*.sqlite")):
        with Catalog(path) as cat:
            n = (sum(r.sha256 in shas for r in cat.images()) if shas
                 else sum(r.rel_path in files for r in cat.images()))
        if n > best_n:
            best, best_n = path, n
    if best is None:
        raise SurveyMismatch("no catalog under $IRBIS_HOME holds these photos; give --catalog FILE or --photos DIR")
    return best


def load_survey(results_path: str | os.PathLike, catalog_path: str | os.PathLike | None = None) -> Survey:
    """Read ``results_path`` and join it with ``catalog_path`` (found by the photos' hashes if None)."""
    results = read_results(results_path)
    catalog_path = Path(catalog_path) if catalog_path else find_catalog(results)
    if not catalog_path.is_file():
        raise FileNotFoundError(f"catalog not found: {catalog_path}")
    with Catalog(catalog_path) as cat:
        photos = join_results(results, cat.images(), str(catalog_path))
        deployments = {r["name"]: {"latitude": r["latitude"], "longitude": r["longitude"],
                                   "clock_offset_s": r["clock_offset_s"]} for r in cat.deployment_rows()}
        sequences = {r["id"]: dict(r) for r in cat.sequences()}
    used = {p.record.deployment for p in photos}
    return Survey(results, photos, str(catalog_path), {k: v for k, v in deployments.items() if k in used},
                  sequences)
