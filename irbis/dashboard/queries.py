"""The dashboard's views as SQL over the index, all filtered by survey, species/category and a
confidence threshold.

A photo *shows* a label when one of its detections has that label (a species from the classifier,
else the detection category: animal / person / vehicle) at or above the threshold; a photo with
no detection at or above the threshold is *empty*.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..events import group_events
from .index import Index

CATEGORY_LABELS = {"animal": "1", "person": "2", "vehicle": "3"}


@dataclass(frozen=True)
class Filter:
    survey: str | None = None          # survey name; None: every survey
    species: str | None = None         # a species / class label, or animal / person / vehicle; None: any
    conf: float = 0.2                  # detections below this do not count

    def det_where(self, alias: str = "d") -> tuple[str, list]:
        """WHERE clause (detections) for the survey, the label and the threshold."""
        sql, args = [f"{alias}.conf >= ?"], [self.conf]  # type: list[str], list[object]
        if self.survey:
            sql.append(f"{alias}.survey_id = (SELECT id FROM surveys WHERE name=?)")
            args.append(self.survey)
        if self.species in CATEGORY_LABELS:
            sql.append(f"{alias}.category = ?")
            args.append(CATEGORY_LABELS[self.species])
        elif self.species:
            sql.append(f"{alias}.label = ?")
            args.append(self.species)
        return " AND ".join(sql), args

    def photo_where(self, alias: str = "p") -> tuple[str, list]:
        if self.survey:
            return f"{alias}.survey_id = (SELECT id FROM surveys WHERE name=?)", [self.survey]
        return "1=1", []


def totals(ix: Index, f: Filter) -> dict:
    """Photos, failures, empty, animal / person / vehicle photos, and photos per label."""
    pw, pa = f.photo_where()
    t = f.conf
    row = ix.query(f"SELECT COUNT(*) AS photos, COUNT(p.failure) AS failures, SUM(p.max_conf >= ?) AS nonempty, "
                   f"SUM(p.max_animal >= ?) AS animal, SUM(p.max_person >= ?) AS person, "
                   f"SUM(p.max_vehicle >= ?) AS vehicle FROM photos p WHERE {pw}", [t, t, t, t, *pa])[0]
    dw, da = Filter(f.survey, None, f.conf).det_where()
    labels: dict[str, int] = {}
    for label, n in ix.query(f"SELECT d.label, COUNT(DISTINCT d.photo_id) AS n FROM detections d WHERE {dw} "
                             f"GROUP BY d.survey_id, d.label", da):      # photo ids differ between surveys
        labels[label] = labels.get(label, 0) + n
    labels = dict(sorted(labels.items(), key=lambda kv: -kv[1]))
    out = {"photos": row["photos"], "failures": row["failures"],
           "empty": row["photos"] - row["failures"] - (row["nonempty"] or 0),
           **{name: row[name] or 0 for name in CATEGORY_LABELS}, "by_label": labels}
    if f.species:
        dw, da = f.det_where()
        out["selected"] = ix.query(f"SELECT COUNT(DISTINCT d.photo_id) AS n FROM detections d WHERE {dw}", da)[0]["n"]
    return out


def counts_by_survey(ix: Index, f: Filter) -> list[dict]:
    """Photos showing each label, per survey (the survey selector does not narrow this view)."""
    dw, da = Filter(None, f.species, f.conf).det_where()
    names = {r["id"]: r["name"] for r in ix.query("SELECT id, name FROM surveys")}
    rows = ix.query(f"SELECT d.survey_id, d.label, COUNT(DISTINCT d.photo_id) AS n FROM detections d WHERE {dw} "
                    f"GROUP BY d.survey_id, d.label", da)
    return sorted(({"survey": names[sid], "label": label, "n": n} for sid, label, n in rows),
                  key=lambda r: (r["survey"], -r["n"]))


def activity_by_hour(ix: Index, f: Filter) -> dict[str, list[int]]:
    """Photos showing each label per hour of the day (local camera time), 24 counts per label."""
    dw, da = f.det_where()
    out: dict[str, list[int]] = {}
    for r in ix.query(f"SELECT d.label, d.hour, COUNT(DISTINCT d.photo_id) AS n FROM detections d "
                      f"WHERE {dw} AND d.hour IS NOT NULL GROUP BY d.label, d.hour", da):
        out.setdefault(r["label"], [0] * 24)[r["hour"]] = r["n"]
    return out


def over_time(ix: Index, f: Filter) -> list[dict]:
    """Photos showing the selection per day."""
    dw, da = f.det_where()
    return [dict(r) for r in ix.query(
        f"SELECT d.day, COUNT(DISTINCT d.photo_id) AS n FROM detections d "
        f"WHERE {dw} AND d.day IS NOT NULL GROUP BY d.day ORDER BY d.day", da)]


def independent_events(times_by_site_label: dict[tuple[str, str], list[int]], interval_min: float = 30.0
                       ) -> dict[tuple[str, str], int]:
    """Independent detections per (site, label): a detection more than ``interval_min`` minutes after
    the previous one of the same label at the same site starts a new event. Times in seconds.

    The rule is :func:`irbis.events.group_events`, the one ``irbis events`` applies.
    """
    return {key: len(group_events(sorted(times), float, interval_min * 60))
            for key, times in times_by_site_label.items()}


def _trap_nights(start: str | None, end: str | None, first: str | None, last: str | None) -> float | None:
    """Nights a camera ran: its deployment's start/end when known, else its first to last photo."""
    a, b = start or first, end or last
    if not a or not b:
        return None
    try:
        ta = datetime.fromisoformat(a.replace("Z", "+00:00"))
        tb = datetime.fromisoformat(b.replace("Z", "+00:00"))
        if (ta.tzinfo is None) != (tb.tzinfo is None):
            ta, tb = ta.replace(tzinfo=None), tb.replace(tzinfo=None)
    except ValueError:
        return None
    return max((tb - ta).total_seconds() / 86400, 1.0)


def sites(ix: Index, f: Filter, interval_min: float = 30.0) -> dict:
    """Per site: photos, photos showing the selection, detection rate, coordinates, trap-nights,
    independent events, RAI (events per 100 trap-nights); and naive occupancy over sites."""
    pw, pa = f.photo_where()
    rows = {r["site"]: dict(r) for r in ix.query(
        f"SELECT p.site, COUNT(*) AS photos, MIN(p.taken_at) AS first, MAX(p.taken_at) AS last "
        f"FROM photos p WHERE {pw} GROUP BY p.site", pa)}
    dw, da = f.det_where()
    hits: dict[str, int] = {}
    times: dict[tuple[str, str], list[int]] = {}
    for site, _, ts in ix.query(f"SELECT DISTINCT d.site, d.photo_id, d.ts FROM detections d WHERE {dw}", da):
        hits[site] = hits.get(site, 0) + 1          # one row per photo showing the selection
        if ts is not None:
            times.setdefault((site, "sel"), []).append(ts)
    events = independent_events(times, interval_min)
    coords = {r["site"]: dict(r) for r in ix.query("SELECT * FROM sites")}
    out = []
    for site, r in sorted(rows.items()):
        c = coords.get(site, {})
        nights = _trap_nights(c.get("start"), c.get("end"), r["first"], r["last"])
        ev = events.get((site, "sel"), 0)
        out.append({"site": site, "photos": r["photos"], "hits": hits.get(site, 0),
                    "rate": hits.get(site, 0) / r["photos"] if r["photos"] else 0.0,
                    "latitude": c.get("latitude"), "longitude": c.get("longitude"),
                    "trap_nights": nights, "events": ev,
                    "rai": None if not nights else round(100 * ev / nights, 2)})
    occupied = sum(s["hits"] > 0 for s in out)
    return {"sites": out, "occupied": occupied, "naive_occupancy": occupied / len(out) if out else None,
            "interval_min": interval_min}


def labels(ix: Index, f: Filter) -> list[str]:
    """Every label the selector offers: the categories, then species seen in the survey(s)."""
    pw, pa = Filter(f.survey).photo_where("d")
    seen = [r["label"] for r in ix.query(f"SELECT DISTINCT d.label FROM detections d WHERE {pw} ORDER BY d.label",
                                         pa)]
    return [*CATEGORY_LABELS, *[s for s in seen if s not in CATEGORY_LABELS]]


def photos_page(ix: Index, f: Filter, show: str = "nonempty", page: int = 0, size: int = 48,
                order: str = "file") -> dict:
    """One page of the review grid. ``show``: nonempty (photos showing the selection), empty (no
    detection at or above the threshold), failed, all. ``order``: file, or uncertain (label next:
    most uncertain first, photos already corrected left out)."""
    pw, pa = f.photo_where()
    dw, da = f.det_where()
    where, args = [pw], list(pa)
    if show == "nonempty":
        where.append(f"p.id IN (SELECT d.photo_id FROM detections d WHERE {dw})")
        args += da
    elif show == "empty":
        ew, ea = Filter(f.survey, None, f.conf).det_where()
        where.append(f"p.failure IS NULL AND p.id NOT IN (SELECT d.photo_id FROM detections d WHERE {ew})")
        args += ea
    elif show == "failed":
        where.append("p.failure IS NOT NULL")
    if order == "uncertain":
        where.append("p.uncertainty > 0 AND NOT EXISTS (SELECT 1 FROM corrections c JOIN surveys s2 ON "
                     "s2.name=c.survey WHERE s2.id=p.survey_id AND c.file=p.file)")
        order_sql = "p.uncertainty DESC, p.id"
    else:
        order_sql = "p.survey_id, p.file"
    w = " AND ".join(where)
    total = ix.query(f"SELECT COUNT(*) AS n FROM photos p WHERE {w}", args)[0]["n"]
    rows = ix.query(f"SELECT p.id, p.file, p.site, p.taken_at, p.seq, p.failure, p.uncertainty, s.name AS survey "
                    f"FROM photos p JOIN surveys s ON s.id=p.survey_id WHERE {w} ORDER BY {order_sql} "
                    f"LIMIT ? OFFSET ?", [*args, size, page * size])
    items = [dict(r) for r in rows]
    dets = detections_for(ix, [r["id"] for r in items])
    for it in items:
        it["detections"] = dets.get(it["id"], [])
    return {"total": total, "page": page, "size": size, "photos": items}


def detections_for(ix: Index, ids: list[int]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for r in ix.query(f"SELECT * FROM detections WHERE photo_id IN ({','.join('?' * len(chunk))}) "
                          f"ORDER BY photo_id, idx", chunk):
            out.setdefault(r["photo_id"], []).append(
                {"idx": r["idx"], "category": r["category"], "label": r["label"], "conf": r["conf"],
                 "label_conf": r["label_conf"], "bbox": [r["x"], r["y"], r["w"], r["h"]]})
    return out


def photo(ix: Index, photo_id: int) -> dict | None:
    """One photo, its detections, its burst and its corrections."""
    rows = ix.query("SELECT p.*, s.name AS survey FROM photos p JOIN surveys s ON s.id=p.survey_id WHERE p.id=?",
                    (photo_id,))
    if not rows:
        return None
    p = dict(rows[0])
    p.pop("path", None)
    p["detections"] = detections_for(ix, [photo_id]).get(photo_id, [])
    burst = []
    if p["seq"]:
        burst = [dict(r) for r in ix.query("SELECT id, file, taken_at FROM photos WHERE survey_id=? AND seq=? "
                                           "ORDER BY taken_at, file", (p["survey_id"], p["seq"]))]
    p["burst"] = burst
    p["corrections"] = ix.corrections(p["survey"], p["file"])
    return p
