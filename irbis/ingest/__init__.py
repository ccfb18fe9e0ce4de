"""Ingest: scan a photo folder into the catalog and (re)build sequences per deployment."""

from __future__ import annotations

import csv
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..catalog import Catalog
from ..imageio import IMAGE_EXTENSIONS
from ..records import is_url
from .metadata import read_metadata
from .sequences import build_sequences

DEFAULT_SEQUENCE_GAP_S = 60.0


class IngestError(ValueError):
    """Bad ingest options (clock offsets, deployment CSV)."""


@dataclass
class IngestReport:
    root: str
    catalog: str
    scanned: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # rel_path -> reason
    deployments: int = 0
    sequences: int = 0
    hidden: list[str] = field(default_factory=list)         # hidden photos / folders skipped

    def summary(self) -> str:
        return (f"{self.scanned} photos in {self.root}: {self.added} new, {self.updated} changed, "
                f"{self.unchanged} already catalogued; {self.deployments} deployments, "
                f"{self.sequences} sequences; {len(self.failures)} unreadable. Catalog: {self.catalog}"
                + (f"\n{len(self.hidden)} hidden entries (names starting with '.') skipped, e.g. {self.hidden[0]}"
                   if self.hidden else ""))


def scan_photos(root: str | os.PathLike, hidden: list[Path] | None = None) -> list[Path]:
    """Every .jpg/.jpeg/.png/.webp (any case) below ``root``, hidden folders skipped, sorted.

    ``hidden``: when given, the hidden photos and folders skipped (names starting with '.') are
    appended to it, so a summary can say so rather than skip them without a word."""
    found = []
    for dirpath, dirnames, filenames in os.walk(os.fspath(root), followlinks=False):
        if hidden is not None:
            hidden += [Path(dirpath) / d for d in dirnames if d.startswith(".")]
            hidden += [Path(dirpath) / n for n in filenames
                       if n.startswith(".") and n.lower().endswith(IMAGE_EXTENSIONS)]
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith("."):
                found.append(Path(dirpath) / name)
    return sorted(found)


def parse_clock_offsets(items: list[str] | None) -> dict[str, float]:
    """['CAM=+3600', 'B=-90'] -> {'CAM': 3600.0, 'B': -90.0} (seconds)."""
    out = {}
    for item in items or []:
        m = re.fullmatch(r"(.+)=([+-]?\d+(?:\.\d+)?)", item.strip())
        if not m:
            raise IngestError(f"bad --clock-offset {item!r}: expected DEPLOYMENT=SECONDS, e.g. CAM1=+3600")
        out[m.group(1)] = float(m.group(2))
    return out


def read_deployment_map(csv_path: str | os.PathLike) -> list[tuple[str, str, dict]]:
    """CSV with a ``folder`` or ``file`` column (relative to the photo folder) and ``deployment``;
    optional ``latitude``, ``longitude``, ``clock_offset_s``. Returns (prefix, deployment, extra)."""
    rows = []
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or [])
        key = "folder" if "folder" in cols else "file" if "file" in cols else None
        if key is None or "deployment" not in cols:
            raise IngestError(f"{csv_path}: needs columns 'deployment' and 'folder' (or 'file'); "
                              f"found {sorted(cols)}")
        for line, row in enumerate(reader, start=2):
            if not row.get(key) or not row.get("deployment"):
                raise IngestError(f"{csv_path} line {line}: empty {key} or deployment")
            extra = {k: float(row[k]) for k in ("latitude", "longitude", "clock_offset_s")
                     if row.get(k) not in (None, "")}
            rows.append((row[key].strip().strip("/").replace("\\", "/"), row["deployment"].strip(), extra))
    # longest prefix first so nested folders win
    return sorted(rows, key=lambda r: -len(r[0]))


def deployment_for(rel_path: str, root: Path, mapping: list[tuple[str, str, dict]] | None) -> str:
    for prefix, name, _extra in mapping or []:
        if rel_path == prefix or rel_path.startswith(prefix + "/") or prefix in ("", "."):
            return name
    parent = str(Path(rel_path).parent).replace("\\", "/")
    return root.name if parent in ("", ".") else parent


def rebuild_sequences(catalog: Catalog, touched: set[str], sequence_gap_s: float) -> None:
    """Sequences of the deployments touched (all of them when the gap changed); in a transaction."""
    if catalog.get_meta("sequence_gap_s") != str(float(sequence_gap_s)):
        touched |= set(catalog.deployments())
        catalog.set_meta("sequence_gap_s", str(float(sequence_gap_s)))
    offsets = catalog.deployments()
    for dep in sorted(touched):
        frames = [(r[0], r[1], r[2]) for r in catalog.iter_deployment_frames(dep)]
        frame_rows, seq_rows = build_sequences(dep, frames, sequence_gap_s, offsets.get(dep, 0.0))
        catalog.replace_sequences(dep, frame_rows, seq_rows)


def ingest_folder(photos_dir: str | os.PathLike, catalog: Catalog,
                  sequence_gap_s: float = DEFAULT_SEQUENCE_GAP_S,
                  clock_offsets: dict[str, float] | None = None,
                  deployment_csv: str | os.PathLike | None = None,
                  progress: bool = True, threads: int = 2,
                  files: list[Path] | None = None,
                  deployment_map: list[tuple[str, str, dict]] | None = None) -> IngestReport:
    """Add new or changed photos below ``photos_dir`` to ``catalog``; idempotent.

    ``files``: catalogue only these files (below ``photos_dir``) instead of scanning it.
    ``deployment_map``: (folder or file, deployment, extra) rows as :func:`read_deployment_map`
    returns them, instead of a CSV (e.g. from a Camtrap DP package).
    """
    if is_url(str(photos_dir)):
        raise IngestError(f"{photos_dir} is a URL: photos read by URL need the spark engine (--engine spark on "
                          f"featurize, detect, run, predict); give a folder of this machine otherwise")
    root = Path(photos_dir).resolve()
    if not root.is_dir():
        raise IngestError(f"not a folder: {photos_dir}")
    mapping = read_deployment_map(deployment_csv) if deployment_csv else None
    if deployment_map is not None:
        mapping = sorted(deployment_map, key=lambda r: -len(r[0])) + (mapping or [])
    report = IngestReport(root=str(root), catalog=str(catalog.path))
    whole_folder = files is None
    # Given files: their folder resolved, not the file itself (a link is catalogued, and reported, under its
    # own name; what it leads to is read_metadata's business).
    hidden: list[Path] = []
    files = scan_photos(root, hidden) if files is None else sorted(Path(os.path.realpath(Path(f).parent)) / Path(f).name
                                                           for f in files)
    report.scanned = len(files)
    report.hidden = [p.relative_to(root).as_posix() for p in hidden]
    known = catalog.known_files()
    todo = []
    for f in files:
        stamp: tuple[int | None, float | None]
        try:
            stamp = (f.stat().st_size, f.stat().st_mtime)
        except OSError:   # dangling link, link loop, ...: read_metadata says what it is
            stamp = (None, None)
        prev = known.get(str(f))
        if prev is None:
            todo.append((f, "added"))
        elif prev != stamp or stamp == (None, None):
            todo.append((f, "updated"))
        else:
            report.unchanged += 1

    touched: set[str] = set()
    if whole_folder:   # deleted and renamed photos leave the catalog: outputs describe the folder as it is
        with catalog.transaction():
            touched |= catalog.remove_missing(root, [str(f) for f in files])
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool, catalog.transaction():
        metas = pool.map(lambda item: read_metadata(item[0]), todo)
        for (f, kind), meta in tqdm(zip(todo, metas), total=len(todo), desc="ingest", unit="photo",
                                    disable=not progress or not todo):
            rel = f.relative_to(root).as_posix()
            dep = deployment_for(rel, root, mapping)
            catalog.ensure_deployment(dep)
            catalog.upsert_image({"path": str(f), "root": str(root), "rel_path": rel,
                                  "deployment": dep, **meta})
            setattr(report, kind, getattr(report, kind) + 1)
            touched.add(dep)

    with catalog.transaction():
        for _prefix, name, extra in mapping or []:
            if catalog.set_deployment(name, extra.get("clock_offset_s"), extra.get("latitude"),
                                      extra.get("longitude")):
                touched.add(name)
        for name, offset in (clock_offsets or {}).items():
            if name not in catalog.deployments():
                raise IngestError(f"--clock-offset names unknown deployment {name!r}; known: "
                                  f"{sorted(catalog.deployments())}")
            if catalog.set_deployment(name, offset):
                touched.add(name)
        rebuild_sequences(catalog, touched, sequence_gap_s)

    records = catalog.images(root) if whole_folder else catalog.images(paths=[str(f) for f in files])
    report.failures = {r.rel_path: r.failure for r in records if r.failure}
    report.deployments = len({r.deployment for r in records})
    report.sequences = len({r.sequence_id for r in records})
    return report
