"""Camtrap DP 1.0.2 import: deployments (with coordinates), media timestamps and observations.

``read_package`` validates the package against the official schemas (the error names the file,
row and field) and reads its three tables. ``ingest_package`` catalogues the media files found
on disk (``filePath`` or ``fileName``, below the package folder or ``images_dir``), each under
its ``deploymentID`` with the deployment's coordinates; the clock offset of a deployment is
set so that the catalog's corrected times equal the package's media timestamps (local wall
time). ``package_labels`` turns observations (by default those classified by people) into
training labels: one label per photo, the scientific name of an animal or the observation type
(blank, human, vehicle); event-level observations label the media of their deployment between
eventStart and eventEnd.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..catalog import Catalog
from ..formats.camtrap_dp_validate import TABLES, check_package
from . import IngestReport, ingest_folder

LABEL_TYPES = ("animal", "human", "vehicle", "blank")


@dataclass
class CamtrapPackage:
    path: Path
    descriptor: dict
    deployments: dict[str, dict]         # deploymentID -> row
    media: list[dict]
    observations: list[dict]

    def media_by_id(self) -> dict[str, dict]:
        return {m["mediaID"]: m for m in self.media}


def read_package(path: str | os.PathLike, validate: bool = True) -> CamtrapPackage:
    """Read (and by default validate) the Camtrap DP package in folder ``path``."""
    path = Path(path)
    if path.is_file() and path.name == "datapackage.json":
        path = path.parent
    if not (path / "datapackage.json").is_file():
        raise FileNotFoundError(f"no datapackage.json in {path}: give the folder of a Camtrap DP package")
    if validate:
        check_package(path)
    descriptor = json.loads((path / "datapackage.json").read_text(encoding="utf-8"))
    res = {r["name"]: r for r in descriptor["resources"] if r.get("name") in TABLES}
    tables = {}
    for name in TABLES:
        with open(path / res[name]["path"], newline="", encoding="utf-8-sig") as fh:
            tables[name] = [{k: (v or "") for k, v in row.items()} for row in csv.DictReader(fh)]
    return CamtrapPackage(path, descriptor, {d["deploymentID"]: d for d in tables["deployments"]},
                          tables["media"], tables["observations"])


def wall_time(timestamp: str) -> str:
    """'2021-04-11T20:43:09+01:00' -> '2021-04-11T20:43:09' (the camera's local clock)."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).replace(tzinfo=None).isoformat()


def locate_media(package: CamtrapPackage, images_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """mediaID -> a local file, for the media found on disk (URLs and absent files are skipped)."""
    bases = [package.path] + ([Path(images_dir)] if images_dir else [])
    found = {}
    for m in package.media:
        names = [n for n in (m.get("filePath"), m.get("fileName")) if n and "://" not in n]
        for base in bases:
            hit = next((base / n for n in names if (base / n).is_file()), None)
            if hit is None:
                hit = next((base / Path(n).name for n in names if (base / Path(n).name).is_file()), None)
            if hit is not None:
                found[m["mediaID"]] = hit.resolve()
                break
    return found


@dataclass
class PackageIngestReport:
    folder: IngestReport | None
    media: int = 0
    found: int = 0
    deployments: int = 0
    clock_offsets: dict[str, float] = field(default_factory=dict)
    time_mismatches: int = 0                 # photos whose corrected EXIF time differs from the package's

    def summary(self) -> str:
        lines = [f"{self.media} media, {self.found} found on disk and catalogued, "
                 f"{self.deployments} deployments with coordinates"]
        if self.clock_offsets:
            lines.append("clock offsets set from the package's timestamps: " + ", ".join(
                f"{d} {o:+.0f} s" for d, o in sorted(self.clock_offsets.items())))
        if self.time_mismatches:
            lines.append(f"{self.time_mismatches} photo(s) whose EXIF time does not match the package's timestamp")
        if self.folder:
            lines.append(self.folder.summary())
        return "\n".join(lines)


def ingest_package(package: CamtrapPackage, catalog: Catalog, images_dir: str | os.PathLike | None = None,
                   sequence_gap_s: float = 60.0, progress: bool = True) -> PackageIngestReport:
    """Catalogue the package's local media under their deployments, with coordinates and clock offsets."""
    files = locate_media(package, images_dir)
    media = package.media_by_id()
    coords = {d: (float(r["latitude"]), float(r["longitude"])) for d, r in package.deployments.items()
              if r.get("latitude") and r.get("longitude")}
    report = ingest_timed_files(files, {m: media[m]["deploymentID"] for m in files},
                                {m: wall_time(media[m]["timestamp"]) for m in files if media[m].get("timestamp")},
                                coords, catalog, sequence_gap_s, progress)
    report.media = len(package.media)
    return report


def ingest_timed_files(files: dict[str, Path], deployment: dict[str, str], wall_times: dict[str, str],
                       coords: dict[str, tuple[float, float]], catalog: Catalog, sequence_gap_s: float = 60.0,
                       progress: bool = True, root: str | os.PathLike | None = None) -> PackageIngestReport:
    """Catalogue ``files`` (key -> path) under ``deployment[key]`` with coordinates; each deployment's
    clock offset becomes the median of (given wall time - EXIF time), so corrected times match
    the exchange file's. ``root``: the folder paths are relative to (default: the files' common
    folder). Shared by the Camtrap DP and COCO Camera Traps readers."""
    report = PackageIngestReport(None, media=len(files), found=len(files))
    if not files:
        return report
    common = Path(os.path.commonpath([str(p.parent) for p in files.values()]))
    root = Path(root).resolve() if root and common.is_relative_to(Path(root).resolve()) else common
    mapping = []
    for key, f in files.items():
        lat_lon = coords.get(deployment[key])
        extra = {"latitude": lat_lon[0], "longitude": lat_lon[1]} if lat_lon else {}
        mapping.append((f.relative_to(root).as_posix(), deployment[key], extra))
    report.folder = ingest_folder(root, catalog, sequence_gap_s=sequence_gap_s, progress=progress,
                                  files=list(files.values()), deployment_map=mapping)
    report.deployments = len({m[1] for m in mapping if m[2]})
    by_path = {r.path: r for r in catalog.images(paths=[str(f) for f in files.values()])}
    exif = {r[0]: r[2] for d in {m[1] for m in mapping} for r in catalog.iter_deployment_frames(d)}
    diffs: dict[str, list[float]] = defaultdict(list)
    for key, f in files.items():
        rec = by_path.get(str(f))
        dto = exif.get(rec.id) if rec else None
        if rec is not None and dto and wall_times.get(key):
            delta = datetime.fromisoformat(wall_times[key]) - datetime.fromisoformat(dto)
            diffs[rec.deployment].append(delta.total_seconds())
    offsets = {d: float(statistics.median(v)) for d, v in diffs.items()}
    report.clock_offsets = {d: o for d, o in offsets.items() if o}
    if offsets:
        again = ingest_folder(root, catalog, sequence_gap_s=sequence_gap_s, clock_offsets=offsets,
                              progress=False, files=list(files.values()), deployment_map=mapping)
        report.folder.sequences = again.sequences
    report.time_mismatches = sum(abs(x - offsets[d]) > 1.0 for d, v in diffs.items() for x in v)
    return report


@dataclass
class PackageLabels:
    labels: dict[Path, str]                       # local file -> label
    sequences: dict[Path, str]                    # local file -> eventID (when the observation has one)
    deployments: dict[Path, str]
    conflicting: list[str] = field(default_factory=list)   # mediaIDs with several labels: left out
    unlabelled: int = 0

    def summary(self) -> str:
        counts: dict[str, int] = defaultdict(int)
        for v in self.labels.values():
            counts[v] += 1
        return (f"{len(self.labels)} labelled photos ({', '.join(f'{k} {n}' for k, n in sorted(counts.items()))}); "
                f"{len(self.conflicting)} with conflicting labels and {self.unlabelled} without a label left out")


def observation_label(o: dict) -> str | None:
    if o.get("observationType") not in LABEL_TYPES:
        return None
    if o["observationType"] == "animal":
        return o.get("scientificName") or None
    return o["observationType"]


def package_labels(package: CamtrapPackage, files: dict[str, Path],
                   methods: tuple[str, ...] = ("human",)) -> PackageLabels:
    """Training labels from the observations classified by ``methods`` (``classificationMethod``;
    an empty method counts as human, as Camtrap DP producers leave it blank for manual work)."""
    media = package.media_by_id()
    per_media: dict[str, set[str]] = defaultdict(set)
    event_of: dict[str, str] = {}
    events = []
    for o in package.observations:
        if (o.get("classificationMethod") or "human") not in methods:
            continue
        label = observation_label(o)
        if label is None:
            continue
        if o.get("observationLevel") == "media" and o.get("mediaID"):
            per_media[o["mediaID"]].add(label)
            if o.get("eventID"):
                event_of[o["mediaID"]] = o["eventID"]
        elif o.get("observationLevel") == "event":
            events.append(o)
    by_dep: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for mid in files:
        if media[mid].get("timestamp"):
            by_dep[media[mid]["deploymentID"]].append((_utc(media[mid]["timestamp"]), mid))
    event_labels: dict[str, set[str]] = defaultdict(set)
    for o in events:
        start, end = _utc(o["eventStart"]), _utc(o["eventEnd"])
        for t, mid in by_dep.get(o["deploymentID"], []):
            if start <= t <= end:
                event_labels[mid].add(observation_label(o) or "")
                event_of.setdefault(mid, o.get("eventID") or "")
    out = PackageLabels({}, {}, {})
    for mid, f in files.items():
        labels = per_media.get(mid) or event_labels.get(mid) or set()
        if len(labels) > 1:
            out.conflicting.append(mid)
        elif not labels:
            out.unlabelled += 1
        else:
            out.labels[f] = labels.pop()
            out.deployments[f] = media[mid]["deploymentID"]
            if event_of.get(mid):
                out.sequences[f] = event_of[mid]
    return out


def _utc(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def write_labels_csv(labels: PackageLabels, path: str | os.PathLike) -> Path:
    """``file,label,sequence,deployment`` with absolute paths (``irbis train`` reads it)."""
    from ..atomic import atomic_write

    def write(fh):
        w = csv.writer(fh)
        w.writerow(["file", "label", "sequence", "deployment"])
        for f in sorted(labels.labels):
            w.writerow([str(f), labels.labels[f], labels.sequences.get(f, ""), labels.deployments.get(f, "")])
    return atomic_write(path, write, text=True)


def package_to_results(package: CamtrapPackage, files: dict[str, Path], root: str | os.PathLike,
                       sha256: dict[str, str] | None = None) -> dict:
    """The package's media-level observations as a MegaDetector 1.6 results file (one image per
    local media file, ``file`` relative to ``root``): boxes become detections (animal / person /
    vehicle), an animal's scientific name its classification. Lets events, exports and the
    evaluation read what other tools (Agouti, Wildlife Insights, camtrapdp) produced."""
    from ..formats.md_json import build_results, image_entry
    kinds = {"animal": "1", "human": "2", "vehicle": "3"}
    names = sorted({o["scientificName"] for o in package.observations
                    if o.get("observationType") == "animal" and o.get("scientificName")})
    class_id = {n: str(i) for i, n in enumerate(names)}
    per_media: dict[str, list[dict]] = defaultdict(list)
    for o in package.observations:
        if o.get("observationLevel") != "media" or o.get("mediaID") not in files:
            continue
        if o.get("observationType") not in kinds or not o.get("bboxX"):
            continue
        p = float(o["classificationProbability"]) if o.get("classificationProbability") else 1.0
        det = {"category": kinds[o["observationType"]], "conf": p,
               "bbox": [float(o[k]) for k in ("bboxX", "bboxY", "bboxWidth", "bboxHeight")]}
        if o["observationType"] == "animal" and o.get("scientificName"):
            det["classifications"] = [[class_id[o["scientificName"]], p]]
        per_media[o["mediaID"]].append(det)
    images = []
    for mid, f in files.items():
        extra = {"sha256": sha256[mid]} if sha256 and sha256.get(mid) else {}
        images.append(image_entry(Path(f).relative_to(root).as_posix(), per_media.get(mid, []), **extra))
    return build_results(images, detector=f"Camtrap DP package {package.path.name}", typical_threshold=0.0,
                         conservative_threshold=0.0,
                         classification_categories={v: k for k, v in class_id.items()} or None,
                         classifier="Camtrap DP observations" if names else None)
