"""Camtrap DP 1.0.2 export: a results file and its catalog as a data package for camtrapdp, GBIF, Agouti.

``datapackage.json`` (profile, created, contributors, project, spatial, temporal, taxonomic),
``deployments.csv`` (catalog deployments, coordinates from the catalog or a deployments CSV),
``media.csv`` (one row per photo with a time; filePublic false when a person was detected; the
photo's SHA-256 in exifData) and ``observations.csv`` (machine observations per box and per
event: the catalog's sequences). Timestamps carry a time zone (``timezone``, per deployment in
the CSV). The folder is written atomically and validated before it is moved into place.
"""

from __future__ import annotations

import csv
import json
import os
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tqdm import tqdm

from .. import __version__
from ..atomic_dir import atomic_directory
from .camtrap_dp_validate import BASE_URL, PROFILE_URL, TABLES, table_schema
from .survey import Survey, SurveyPhoto
from .taxa import BoxLabel, TaxonMap, box_label

MEDIATYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
SAMPLING_DESIGNS = ("simpleRandom", "systematicRandom", "clusteredRandom", "experimental", "targeted",
                    "opportunistic")


class ExportError(ValueError):
    """Export options or catalog facts that cannot make a valid package (nothing is written)."""


def parse_timezone(text: str | None) -> tzinfo:
    """'UTC', '+02:00', '-0530' or an IANA name such as 'Europe/Brussels'."""
    text = (text or "UTC").strip()
    if text.upper() in ("UTC", "Z"):
        return timezone.utc
    if text[0] in "+-":
        digits = text[1:].replace(":", "")
        if digits.isdigit() and len(digits) in (2, 4):
            minutes = int(digits[:2]) * 60 + int(digits[2:] or 0)
            return timezone(timedelta(minutes=minutes if text[0] == "+" else -minutes))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ExportError(f"unknown time zone {text!r}: give UTC, an offset like +02:00 or a name like "
                          f"Europe/Brussels") from exc


def stamp(local: str | None, tz: tzinfo) -> str:
    """Catalog time (camera clock, corrected, no zone) -> ISO 8601 with the zone, e.g. +02:00."""
    if local is None:
        raise ValueError("a Camtrap DP timestamp needs a time (photos without one are left out)")
    return datetime.fromisoformat(local).replace(tzinfo=tz).isoformat(timespec="seconds")


def _exif_data(sha256: str | None, facts: dict | None) -> str:
    """media.csv's exifData: the content hash (renamed files still match) and facts such as the
    temperature the camera printed on its info strip."""
    data = {**({"sha256": sha256} if sha256 else {}), **(facts or {})}
    return json.dumps(data) if data else ""


@dataclass
class ExportOptions:
    timezone: str = "UTC"
    deployments_csv: str | None = None
    taxa: TaxonMap = field(default_factory=TaxonMap)
    title: str = "irbis camera-trap survey"
    project_title: str = "irbis camera-trap survey"
    sampling_design: str = "opportunistic"
    capture_method: str = "activityDetection"
    contributors: list[str] = field(default_factory=list)
    progress: bool = False
    # photo path -> more facts for its exifData, e.g. what its info strip says (temperature_c, strip_datetime)
    media_facts: dict[str, dict] = field(default_factory=dict)


@dataclass
class ExportReport:
    out: str
    media: int = 0
    observations: int = 0
    events: int = 0
    deployments: int = 0
    untimed: list[str] = field(default_factory=list)      # photos without a time: not exportable
    private: int = 0
    unmapped: list[str] = field(default_factory=list)
    validated: bool = False

    def summary(self) -> str:
        lines = [f"Camtrap DP 1.0.2 package {self.out}: {self.deployments} deployments, {self.media} media "
                 f"({self.private} with people, filePublic false), {self.observations} observations "
                 f"({self.events} event-level); "
                 + ("valid against the official schemas" if self.validated else "not validated")]
        if self.untimed:
            lines.append(f"{len(self.untimed)} photo(s) without a time left out (Camtrap DP needs a timestamp): "
                         f"{self.untimed[:5]}")
        if self.unmapped:
            lines.append(f"classes without a taxon in --taxonomy, written as their own name: {self.unmapped}")
        return "\n".join(lines)


DEPLOYMENT_ALIASES = {"deployment": "deploymentID", "name": "deploymentID"}


def read_deployment_facts(path: str | os.PathLike | None) -> dict[str, dict]:
    """deployment -> Camtrap DP deployment fields (and ``timezone``) from a CSV; accepts the ingest
    CSV (folder/file, deployment, latitude, longitude, clock_offset_s) or Camtrap DP column names."""
    if not path:
        return {}
    known = {f["name"] for f in table_schema("deployments")["fields"]} | {"timezone"}
    out: dict[str, dict] = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = {DEPLOYMENT_ALIASES.get(c, c) for c in reader.fieldnames or []}
        if "deploymentID" not in cols:
            raise ExportError(f"{path}: needs a 'deployment' (or 'deploymentID') column; found {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            row = {DEPLOYMENT_ALIASES.get(k, k): (v or "").strip() for k, v in row.items() if k}
            if not row["deploymentID"]:
                raise ExportError(f"{path} line {line}: empty deployment")
            for k in ("latitude", "longitude"):
                if row.get(k):
                    try:
                        float(row[k])
                    except ValueError as exc:
                        raise ExportError(f"{path} line {line}: {k} {row[k]!r} is not a number") from exc
            facts = {k: v for k, v in row.items() if k in known and v != ""}
            out.setdefault(row["deploymentID"], {}).update(facts)
    return out


def _photo_rows(p: SurveyPhoto, media_id: str, event: tuple[str, str, str], tz: tzinfo, categories, classes,
                taxa: TaxonMap, classified_by: str, when: str) -> list[dict]:
    base = {"deploymentID": p.record.deployment, "mediaID": media_id, "eventID": event[0],
            "eventStart": event[1], "eventEnd": event[2], "observationLevel": "media",
            "classificationMethod": "machine", "classifiedBy": classified_by, "classificationTimestamp": when}
    if p.failure:
        return [{**base, "observationID": f"{media_id}_1", "observationType": "unclassified",
                 "observationComments": f"irbis could not read the photo: {p.failure}"[:500]}]
    if not p.detections:
        return [{**base, "observationID": f"{media_id}_1", "observationType": "blank"}]
    rows = []
    for k, det in enumerate(p.detections, start=1):
        lab = box_label(det, categories, classes, taxa)
        x, y, w, h = (float(v) for v in det["bbox"])
        rows.append({**base, "observationID": f"{media_id}_{k}", "observationType": lab.observation_type,
                     "scientificName": lab.taxon.scientific_name if lab.taxon else "",
                     "count": 1 if lab.observation_type in ("animal", "human", "vehicle") else "",
                     "bboxX": round(min(max(x, 0.0), 1.0), 4), "bboxY": round(min(max(y, 0.0), 1.0), 4),
                     "bboxWidth": round(min(max(w, 1e-4), 1.0), 4), "bboxHeight": round(min(max(h, 1e-4), 1.0), 4),
                     "classificationProbability": round(lab.probability, 4) if lab.probability is not None else "",
                     "observationTags": f"detectionConfidence:{float(det['conf']):.3f}"})
    return rows


def _event_rows(event_id: str, deployment: str, start: str, end: str, labels: list[list[BoxLabel]],
                classified_by: str, when: str) -> list[dict]:
    """One observation per (type, taxon) in the event: count = most boxes of it in one photo."""
    most: dict[tuple, int] = defaultdict(int)
    prob: dict[tuple, float] = defaultdict(float)
    taxon: dict[tuple, str] = {}
    for photo in labels:
        per_photo: dict[tuple, int] = defaultdict(int)
        for lab in photo:
            key = (lab.observation_type, lab.taxon.scientific_name if lab.taxon else "")
            per_photo[key] += 1
            prob[key] = max(prob[key], lab.probability or 0.0)
            taxon[key] = key[1]
        for key, n in per_photo.items():
            most[key] = max(most[key], n)
    if not most:
        most[("blank", "")] = 0
    rows = []
    for k, ((otype, name), n) in enumerate(sorted(most.items()), start=1):
        rows.append({"observationID": f"{event_id}_e{k}", "deploymentID": deployment, "eventID": event_id,
                     "eventStart": start, "eventEnd": end, "observationLevel": "event", "observationType": otype,
                     "scientificName": name, "count": n or "", "classificationMethod": "machine",
                     "classifiedBy": classified_by, "classificationTimestamp": when,
                     "classificationProbability": round(prob[(otype, name)], 4) if n else ""})
    return rows


def _classified_by(results: dict) -> str:
    info = results.get("info", {})
    parts = [f"irbis {__version__}", f"detector {info.get('detector', 'unknown')}"]
    if info.get("classifier"):
        parts.append(f"classifier {info['classifier']}")
    return "; ".join(parts)


def _completion_time(results: dict, tz: tzinfo) -> str:
    text = results.get("info", {}).get("classification_completion_time") or \
        results.get("info", {}).get("detection_completion_time")
    try:
        t = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").astimezone()   # written in the machine's local time
    except (TypeError, ValueError):
        t = datetime.now(timezone.utc)
    return t.astimezone(tz).isoformat(timespec="seconds")


def build_tables(survey: Survey, options: ExportOptions, report: ExportReport) -> tuple[dict, dict[str, list[dict]]]:
    """(datapackage.json descriptor, {table name: rows}) for ``survey``."""
    facts = read_deployment_facts(options.deployments_csv)
    default_tz = parse_timezone(options.timezone)
    zones = {d: parse_timezone(facts[d]["timezone"]) if facts.get(d, {}).get("timezone") else default_tz
             for d in survey.deployments}
    classified_by, categories, classes = _classified_by(survey.results), survey.categories, survey.classes
    media, observations, labels_by_event, used_ids = [], [], defaultdict(list), set()
    times = defaultdict(list)
    ordered = sorted(survey.photos, key=lambda p: (p.record.deployment, p.record.taken_at or "", p.file))
    for p in tqdm(ordered, desc="camtrap-dp", unit="photo", disable=not options.progress):
        rec, tz = p.record, zones[p.record.deployment]
        if not rec.taken_at:
            report.untimed.append(p.file)
            continue
        media_id = (rec.sha256 or uuid.uuid5(uuid.NAMESPACE_URL, rec.path).hex)[:16]
        n = 1
        while media_id in used_ids:
            n += 1
            media_id = f"{(rec.sha256 or '')[:16]}-{n}"
        used_ids.add(media_id)
        seq = survey.sequences.get(rec.sequence_id or "", {})
        event = (rec.sequence_id or media_id, stamp(seq.get("start") or rec.taken_at, tz),
                 stamp(seq.get("end") or rec.taken_at, tz))
        when = _completion_time(survey.results, tz)
        has_person = any(categories.get(str(d["category"])) == "person" for d in p.detections or [])
        report.private += has_person
        media.append({"mediaID": media_id, "deploymentID": rec.deployment, "captureMethod": options.capture_method,
                      "timestamp": stamp(rec.taken_at, tz), "filePath": rec.rel_path,
                      "filePublic": "false" if has_person else "true", "fileName": Path(rec.rel_path).name,
                      "fileMediatype": MEDIATYPES.get(Path(rec.rel_path).suffix.lower(), "image/jpeg"),
                      "exifData": _exif_data(rec.sha256, options.media_facts.get(rec.path)),
                      "mediaComments": f"unreadable: {p.failure}"[:500] if p.failure else ""})
        times[rec.deployment].append(rec.taken_at)
        observations += _photo_rows(p, media_id, event, tz, categories, classes, options.taxa, classified_by, when)
        if not p.failure:
            labels_by_event[(event, rec.deployment)].append(
                [box_label(d, categories, classes, options.taxa) for d in p.detections or []])
    when = _completion_time(survey.results, default_tz)
    for (event, dep), labels in sorted(labels_by_event.items()):
        rows = _event_rows(event[0], dep, event[1], event[2], labels, classified_by, when)
        report.events += len(rows)
        observations += rows
    deployments = _deployment_rows(survey, facts, times, zones)
    report.media, report.observations, report.deployments = len(media), len(observations), len(deployments)
    report.unmapped = sorted(options.taxa.unmapped)
    descriptor = _descriptor(deployments, observations, options, survey)
    return descriptor, {"deployments": deployments, "media": media, "observations": observations}


def _deployment_rows(survey: Survey, facts: dict, times: dict, zones: dict) -> list[dict]:
    rows, missing = [], []
    for name, dep in sorted(survey.deployments.items()):
        if name not in times:
            continue                                    # no photo with a time: nothing to export
        f = facts.get(name, {})
        lat = f.get("latitude", dep.get("latitude"))
        lon = f.get("longitude", dep.get("longitude"))
        if lat in (None, "") or lon in (None, ""):
            missing.append(name)
            continue
        row = {k: v for k, v in f.items() if k != "timezone"}
        row.update(deploymentID=name, latitude=float(lat), longitude=float(lon))
        row.setdefault("deploymentStart", stamp(min(times[name]), zones[name]))
        row.setdefault("deploymentEnd", stamp(max(times[name]), zones[name]))
        if "timestampIssues" not in row and dep.get("clock_offset_s"):
            row["timestampIssues"] = "false"            # corrected by the catalog's clock offset
        rows.append(row)
    if missing:
        raise ExportError(f"{len(missing)} deployment(s) have no coordinates, which Camtrap DP requires: "
                          f"{missing[:10]}. Give them with --deployments CSV (deployment,latitude,longitude) "
                          f"or at ingest (irbis ingest --deployments).")
    return rows


def _descriptor(deployments: list[dict], observations: list[dict], options: ExportOptions, survey: Survey) -> dict:
    if options.sampling_design not in SAMPLING_DESIGNS:
        raise ExportError(f"sampling design {options.sampling_design!r} is not one of {SAMPLING_DESIGNS}")
    lats = [d["latitude"] for d in deployments] or [0.0]
    lons = [d["longitude"] for d in deployments] or [0.0]
    if min(lats) == max(lats) and min(lons) == max(lons):
        spatial = {"type": "Point", "coordinates": [lons[0], lats[0]]}
    else:
        w, e, s, n = min(lons), max(lons), min(lats), max(lats)
        spatial = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    starts = sorted(d["deploymentStart"][:10] for d in deployments) or [datetime.now().date().isoformat()]
    ends = sorted(d["deploymentEnd"][:10] for d in deployments) or starts
    taxonomic, seen = [], set()
    by_name = {t.scientific_name: t for t in options.taxa.by_class.values()}
    for o in observations:
        name = o.get("scientificName")
        if name and name not in seen:
            seen.add(name)
            t = by_name.get(name)
            entry = {"scientificName": name}
            if t and t.taxon_id:
                entry["taxonID"] = t.taxon_id
            if t and t.taxon_rank:
                entry["taxonRank"] = t.taxon_rank
            if t and t.vernacular_name:
                entry["vernacularNames"] = {"eng": t.vernacular_name}
            taxonomic.append(entry)
    people = options.contributors or [f"irbis {__version__} (machine observations)"]
    return {
        "resources": [{"name": t, "path": f"{t}.csv", "profile": "tabular-data-resource", "format": "csv",
                       "mediatype": "text/csv", "encoding": "utf-8", "schema": f"{BASE_URL}/{t}-table-schema.json"}
                      for t in TABLES],
        "profile": PROFILE_URL,
        "name": "irbis-export",
        "id": str(uuid.uuid4()),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "title": options.title,
        "contributors": [{"title": c, "role": "contributor"} for c in people],
        "sources": [{"title": "irbis", "version": __version__}],
        "project": {"title": options.project_title, "samplingDesign": options.sampling_design,
                    "captureMethod": [options.capture_method], "individualAnimals": False,
                    "observationLevel": ["media", "event"]},
        "spatial": spatial,
        "temporal": {"start": starts[0], "end": ends[-1]},
        "taxonomic": taxonomic,
        "irbis": {"results_info": survey.results.get("info", {})},   # no local paths in a package to publish
    }


def write_tables(folder: Path, descriptor: dict, tables: dict[str, list[dict]]) -> None:
    for name in TABLES:
        fields = [f["name"] for f in table_schema(name)["fields"]]
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=fields, extrasaction="raise")
            w.writeheader()
            for row in tables[name]:
                w.writerow({k: "" if v is None else v for k, v in row.items()})
    (folder / "datapackage.json").write_text(json.dumps(descriptor, indent=2, ensure_ascii=False) + "\n",
                                             encoding="utf-8")


def _have_validators() -> bool:
    try:
        import frictionless  # noqa: F401
        import jsonschema  # noqa: F401
    except ImportError:
        return False
    return True


def export_camtrap_dp(survey: Survey, out_dir: str | os.PathLike, options: ExportOptions | None = None,
                      validate: bool = True) -> ExportReport:
    """Write ``survey`` as a Camtrap DP package in ``out_dir`` (atomically; validated first)."""
    options = options or ExportOptions()
    report = ExportReport(out=str(out_dir))
    descriptor, tables = build_tables(survey, options, report)
    with atomic_directory(out_dir, replace_marker="datapackage.json") as tmp:
        write_tables(tmp, descriptor, tables)
        if validate and _have_validators():
            from .camtrap_dp_validate import CamtrapDPError, validate_package
            problems = validate_package(tmp)
            if problems:
                raise CamtrapDPError(f"{out_dir} (not written)", problems)
            report.validated = True
    return report
