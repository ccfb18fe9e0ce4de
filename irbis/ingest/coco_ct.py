"""COCO Camera Traps import: catalogue a CCT dataset's photos (location -> deployment, datetime ->
clock offset, seq_id kept in the labels) and read its categories as training labels."""

from __future__ import annotations

import os
from pathlib import Path

from ..catalog import Catalog
from ..formats.coco_ct import CCTDataset
from .camtrap_dp import PackageIngestReport, PackageLabels, ingest_timed_files


def locate_images(data: CCTDataset, images_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """image id -> local file (``file_name`` relative to ``images_dir``, default the CCT file's folder)."""
    base = Path(images_dir) if images_dir else data.path.parent
    return {im.id: (base / im.file_name).resolve() for im in data.images if (base / im.file_name).is_file()}


def ingest_cct(data: CCTDataset, catalog: Catalog, images_dir: str | os.PathLike | None = None,
               sequence_gap_s: float = 60.0, progress: bool = True) -> PackageIngestReport:
    files = locate_images(data, images_dir)
    by_id = {im.id: im for im in data.images}
    report = ingest_timed_files(files, {i: by_id[i].location or "cct" for i in files},
                                {i: str(by_id[i].datetime) for i in files if by_id[i].datetime}, {}, catalog,
                                sequence_gap_s, progress, root=Path(images_dir) if images_dir else data.path.parent)
    report.media = len(data.images)
    return report


def cct_labels(data: CCTDataset, files: dict[str, Path]) -> PackageLabels:
    """One label per image: its only category (images with several categories are left out)."""
    by_id = {im.id: im for im in data.images}
    out = PackageLabels({}, {}, {})
    for i, f in files.items():
        im = by_id[i]
        if len(im.labels) > 1:
            out.conflicting.append(i)
        elif not im.labels:
            out.unlabelled += 1
        else:
            out.labels[f] = next(iter(im.labels))
            if im.seq_id:
                out.sequences[f] = im.seq_id
            if im.location:
                out.deployments[f] = im.location
    return out
