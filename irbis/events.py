"""Independent detections per species and site, and the per-site relative abundance index (RAI).

The table camtrapR users build by hand (``recordTable`` with ``minDeltaTime``): photos of one
species at one site belong to the same independent event while the gap to the event's last
photo (or, with ``compare_to="first"``, its first photo) is at most ``interval_s``. Each event
row has the site, species, start, end, photos and the most boxes of that species in one photo
(the usual count estimate). The site summary has trap-nights (deployment start to end from the
deployments facts, else first to last photo of the site), detections (independent events) and
RAI = detections per 100 trap-nights, per species.

Pure functions over a results dict and catalog records: the CLI and the dashboard share them.
"""

from __future__ import annotations

import csv
import os
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from .catalog import ImageRecord
from .formats.survey import join_results
from .formats.taxa import TaxonMap, box_label, species_key

DEFAULT_INTERVAL_S = 30 * 60.0


def parse_interval(text: str | float) -> float:
    """'30m', '1h', '90s', '1d' or seconds -> seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text).lower())
    if not m:
        raise ValueError(f"bad interval {text!r}: expected e.g. 30m, 1h, 90s or 1d")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


@dataclass
class Event:
    event_id: str
    site: str
    species: str
    start: str
    end: str
    photos: int
    max_count: int
    max_probability: float
    first_file: str


@dataclass
class SiteSummary:
    site: str
    start: str
    end: str
    trap_nights: float
    photos: int
    detections: int
    rai: float | None                                         # detections per 100 trap-nights
    by_species: dict[str, int] = field(default_factory=dict)   # independent events per species


@dataclass
class EventTable:
    events: list[Event]
    sites: list[SiteSummary]
    untimed_photos: int = 0
    interval_s: float = DEFAULT_INTERVAL_S


def _taken(rec: ImageRecord) -> datetime | None:
    return datetime.fromisoformat(rec.taken_at) if rec.taken_at else None


def group_events(rows: list, time_of, interval_s: float = DEFAULT_INTERVAL_S, compare_to: str = "last") -> list[list]:
    """The independence rule, in one place: ``rows`` sorted by time (``time_of(row)``: seconds) of one
    species at one site -> groups; a row more than ``interval_s`` after the group's last row (or its
    first, with ``compare_to="first"``) starts a new independent event."""
    groups: list[list] = []
    for row in rows:
        if groups:
            ref = time_of(groups[-1][-1] if compare_to == "last" else groups[-1][0])
            if time_of(row) - ref <= interval_s:
                groups[-1].append(row)
                continue
        groups.append([row])
    return groups


def independent_events(results: dict, records: list[ImageRecord], interval_s: float = DEFAULT_INTERVAL_S,
                       threshold: float | None = None, taxa: TaxonMap | None = None, compare_to: str = "last",
                       site_periods: dict[str, tuple[str, str]] | None = None) -> EventTable:
    """Independent events and the per-site summary of ``results`` (MD 1.6) over catalog ``records``.

    ``threshold``: boxes below it are ignored (default: the file's typical detection threshold).
    ``site_periods``: site -> (start, end) ISO times of the deployment, for trap-nights.
    """
    if compare_to not in ("last", "first"):
        raise ValueError("compare_to must be 'last' or 'first'")
    taxa = taxa or TaxonMap()
    photos = join_results(results, records)
    if threshold is None:
        threshold = float(results.get("info", {}).get("detector_metadata", {}).get("typical_detection_threshold", 0))
    categories = results.get("detection_categories") or {}
    classes = results.get("classification_categories") or {}
    hits: dict[tuple[str, str], list[tuple[datetime, str, int, float]]] = defaultdict(list)
    site_times: dict[str, list[datetime]] = defaultdict(list)
    untimed = 0
    for p in photos:
        t = _taken(p.record)
        if t is None:
            untimed += 1
            continue
        site_times[p.record.deployment].append(t)
        counts: dict[str, list[float]] = defaultdict(list)
        for d in p.detections or []:
            if float(d["conf"]) < threshold:
                continue
            lab = box_label(d, categories, classes, taxa)
            if lab.observation_type in ("blank", "unknown"):
                continue
            counts[species_key(lab)].append(lab.probability or 0.0)
        for species, probs in counts.items():
            hits[(p.record.deployment, species)].append((t, p.file, len(probs), max(probs)))
    events = []
    for (site, species), rows in sorted(hits.items()):
        rows.sort()
        for g in group_events(rows, lambda r: r[0].timestamp(), interval_s, compare_to):
            events.append(Event("", site, species, g[0][0].isoformat(), g[-1][0].isoformat(), len(g),
                                max(r[2] for r in g), round(max(r[3] for r in g), 4), g[0][1]))
    events.sort(key=lambda e: (e.site, e.start, e.species))
    for k, e in enumerate(events, start=1):
        e.event_id = f"E{k:06d}"
    return EventTable(events, site_summary(events, site_times, site_periods), untimed, interval_s)


def site_summary(events: list[Event], site_times: dict[str, list[datetime]],
                 site_periods: dict[str, tuple[str, str]] | None = None) -> list[SiteSummary]:
    out = []
    for site in sorted(set(site_times) | set(site_periods or {})):
        if site_periods and site in site_periods:
            start, end = (datetime.fromisoformat(x).replace(tzinfo=None) for x in site_periods[site])
        else:
            start, end = min(site_times[site]), max(site_times[site])
        nights = round((end - start).total_seconds() / 86400, 3)
        mine = [e for e in events if e.site == site]
        by_species: dict[str, int] = defaultdict(int)
        for e in mine:
            by_species[e.species] += 1
        out.append(SiteSummary(site, start.isoformat(), end.isoformat(), nights, len(site_times.get(site, [])),
                               len(mine), round(100 * len(mine) / nights, 3) if nights > 0 else None,
                               dict(sorted(by_species.items()))))
    return out


EVENT_COLUMNS = ["event_id", "site", "species", "start", "end", "photos", "max_count", "max_probability",
                 "first_file"]


def write_events_csv(table: EventTable, path: str | os.PathLike) -> Path:
    from .atomic import atomic_write

    def write(fh):
        w = csv.DictWriter(fh, fieldnames=EVENT_COLUMNS)
        w.writeheader()
        w.writerows(asdict(e) for e in table.events)
    return atomic_write(path, write, text=True)


def _rai(detections: int, trap_nights: float) -> float | str:
    return round(100 * detections / trap_nights, 3) if trap_nights > 0 else ""


def write_sites_csv(table: EventTable, path: str | os.PathLike) -> Path:
    """One row per site and species (species 'all' for the site's total), RAI per 100 trap-nights."""
    from .atomic import atomic_write

    def write(fh):
        w = csv.writer(fh)
        w.writerow(["site", "species", "start", "end", "trap_nights", "photos", "detections",
                    "rai_per_100_trap_nights"])
        for s in table.sites:
            w.writerow([s.site, "all", s.start, s.end, s.trap_nights, s.photos, s.detections,
                        _rai(s.detections, s.trap_nights)])
            for sp, n in s.by_species.items():
                w.writerow([s.site, sp, s.start, s.end, s.trap_nights, "", n, _rai(n, s.trap_nights)])
    return atomic_write(path, write, text=True)
