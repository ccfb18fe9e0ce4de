"""COCO Camera Traps (LILA's format): export of results, import of labelled datasets.

https://lila.science/coco-camera-traps : ``info``, ``images`` (``id``, ``file_name``, ``width``,
``height``, ``seq_id``, ``seq_num_frames``, ``frame_num``, ``location``, ``datetime``),
``categories`` (``id``, ``name``; 0 = empty) and ``annotations`` (``id``, ``image_id``,
``category_id``, ``bbox`` [x, y, width, height] in pixels, top-left origin). Exports add the
detector's ``conf`` per annotation and the photo's ``sha256`` per image.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .. import __version__
from ..atomic import atomic_write
from .survey import Survey
from .taxa import TaxonMap, box_label, species_key


class CCTError(ValueError):
    """A COCO Camera Traps file that cannot be used; the message names the entry."""


def _cct_time(taken_at: str | None) -> str | None:
    return datetime.fromisoformat(taken_at).strftime("%Y-%m-%d %H:%M:%S") if taken_at else None


def survey_to_cct(survey: Survey, taxa: TaxonMap | None = None) -> dict:
    """One CCT image per photo, one annotation per box (pixels), an ``empty`` one for empty photos."""
    taxa = taxa or TaxonMap()
    names: dict[str, int] = {"empty": 0}
    images, annotations = [], []
    frames: dict[str, list] = defaultdict(list)
    seq_of = {p.file: p.seq_id or p.record.sequence_id or p.file for p in survey.photos}
    for p in survey.photos:
        frames[seq_of[p.file]].append(p)
    frame_num = {}
    for ps in frames.values():
        for k, p in enumerate(sorted(ps, key=lambda p: (p.record.taken_at or "", p.file))):
            frame_num[p.file] = (k, len(ps))
    for p in sorted(survey.photos, key=lambda p: p.file):
        rec = p.record
        image_id = rec.sha256[:16] if rec.sha256 else p.file
        entry = {"id": image_id, "file_name": p.file, "width": rec.width, "height": rec.height,
                 "seq_id": seq_of[p.file], "seq_num_frames": frame_num[p.file][1],
                 "frame_num": frame_num[p.file][0], "location": rec.deployment,
                 "datetime": _cct_time(rec.taken_at),
                 "sha256": rec.sha256}
        if p.failure:
            entry["failure"] = p.failure
        images.append(entry)
        if p.failure:
            continue
        dets = p.detections or []
        if not dets:
            annotations.append({"id": f"{image_id}_0", "image_id": image_id, "category_id": 0})
        for k, d in enumerate(dets, start=1):
            lab = box_label(d, survey.categories, survey.classes, taxa)
            name = species_key(lab)
            cid = names.setdefault(name, len(names))
            x, y, w, h = (float(v) for v in d["bbox"])
            W, H = rec.width or 1, rec.height or 1
            annotations.append({"id": f"{image_id}_{k}", "image_id": image_id, "category_id": cid,
                                "bbox": [round(x * W, 1), round(y * H, 1), round(w * W, 1), round(h * H, 1)],
                                "conf": float(d["conf"])})
    return {"info": {"version": "1.0", "description": "irbis results as COCO Camera Traps",
                     "contributor": f"irbis {__version__}", "detector": survey.results.get("info", {}).get("detector"),
                     "date_created": datetime.now().strftime("%Y-%m-%d %H:%M:%S")},
            "images": images,
            "categories": [{"id": i, "name": n} for n, i in names.items()],
            "annotations": annotations}


def write_cct(path: str | os.PathLike, data: dict) -> Path:
    return atomic_write(path, lambda fh: json.dump(data, fh, indent=1), text=True)


@dataclass
class CCTImage:
    id: str
    file_name: str
    width: int | None
    height: int | None
    seq_id: str | None
    location: str | None
    datetime: str | None                      # ISO 8601, no zone
    boxes: list[tuple[str, list[float]]] = field(default_factory=list)   # (category name, [x, y, w, h] px)
    labels: set[str] = field(default_factory=set)                          # every category of the image


@dataclass
class CCTDataset:
    path: Path
    images: list[CCTImage]
    categories: dict[int, str]


def _iso(value, where: str) -> str | None:
    if value in (None, ""):
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(str(value)[:19], fmt).isoformat()
        except ValueError:
            continue
    raise CCTError(f"{where}: datetime {value!r} is not 'YYYY-MM-DD HH:MM:SS'")


def read_cct(path: str | os.PathLike) -> CCTDataset:
    """Read a CCT file; errors name the image / annotation and the field."""
    path = Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CCTError(f"{path}: not a JSON file: {exc}") from exc
    for key in ("images", "categories", "annotations"):
        if not isinstance(d.get(key), list):
            raise CCTError(f"{path}: missing list '{key}' (COCO Camera Traps has images, categories, annotations)")
    cats = {}
    for i, c in enumerate(d["categories"]):
        if "id" not in c or "name" not in c:
            raise CCTError(f"{path}: categories[{i}] needs id and name")
        cats[c["id"]] = str(c["name"])
    images: dict[str, CCTImage] = {}
    for i, im in enumerate(d["images"]):
        if "id" not in im or not im.get("file_name"):
            raise CCTError(f"{path}: images[{i}] needs id and file_name")
        if str(im["id"]) in images:
            raise CCTError(f"{path}: images[{i}]: duplicate id {im['id']!r}")
        images[str(im["id"])] = CCTImage(str(im["id"]), im["file_name"], im.get("width"), im.get("height"),
                                         str(im["seq_id"]) if im.get("seq_id") is not None else None,
                                         str(im["location"]) if im.get("location") is not None else None,
                                         _iso(im.get("datetime"), f"{path}: images[{i}]"))
    for i, a in enumerate(d["annotations"]):
        im = images.get(str(a.get("image_id")))
        if im is None:
            raise CCTError(f"{path}: annotations[{i}]: image_id {a.get('image_id')!r} is not an image")
        if a.get("category_id") not in cats:
            raise CCTError(f"{path}: annotations[{i}]: category_id {a.get('category_id')!r} is not a category")
        name = cats[a["category_id"]]
        im.labels.add(name)
        if a.get("bbox") is not None:
            box = [float(v) for v in a["bbox"]]
            if len(box) != 4 or box[2] <= 0 or box[3] <= 0:
                raise CCTError(f"{path}: annotations[{i}]: bbox {a['bbox']} is not [x, y, width, height] in pixels")
            im.boxes.append((name, box))
    return CCTDataset(path, list(images.values()), cats)


def cct_to_results(data: CCTDataset) -> dict:
    """A CCT dataset's boxes as MD 1.6 results (boxes normalised by each image's size; the box's
    category becomes its classification; ``person`` / ``vehicle`` categories their MD categories)."""
    from .md_json import build_results, image_entry
    kinds = {"person": "2", "human": "2", "vehicle": "3"}
    names = sorted({n for im in data.images for n, _ in im.boxes if n.lower() not in kinds})
    class_id = {n: str(i) for i, n in enumerate(names)}
    images = []
    for im in data.images:
        if not im.width or not im.height:
            if im.boxes:
                raise CCTError(f"{data.path}: image {im.id!r} has boxes but no width / height")
        dets = []
        W, H = float(im.width or 1), float(im.height or 1)      # boxes imply a size (checked above)
        for name, (x, y, w, h) in im.boxes:
            det = {"category": kinds.get(name.lower(), "1"), "conf": 1.0,
                   "bbox": [x / W, y / H, w / W, h / H]}
            if name in class_id:
                det["classifications"] = [[class_id[name], 1.0]]
            dets.append(det)
        extra = {"seq_id": im.seq_id} if im.seq_id else {}
        images.append(image_entry(im.file_name, dets, **extra))
    return build_results(images, detector=f"COCO Camera Traps {data.path.name}", typical_threshold=0.0,
                         conservative_threshold=0.0, classification_categories={v: k for k, v in class_id.items()}
                         or None, classifier="COCO Camera Traps annotations" if names else None)
