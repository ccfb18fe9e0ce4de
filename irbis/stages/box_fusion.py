"""One box per animal: fuse the detector's passes and merge part boxes into their animal.

MegadetectorLite run at 640 and 1280 px gives two slightly different boxes for one animal, and
at a low score it also boxes parts of it (a heron's body without its neck, a pig's head, one
chicken of a flock plus the flock). Plain NMS keeps the single most confident box, often a part.
Here instead:

* :func:`fuse_passes` clusters the boxes of all passes (IoU >= ``iou``) and averages each
  cluster's coordinates weighted by score (weighted box fusion, Solovyev et al. 2019); the
  cluster keeps its best score.
* :func:`merge_parts` runs after verification: a kept box that lies mostly inside another kept
  box of its category is merged into it, and a kept animal box that lies mostly inside a
  somewhat larger raw candidate (the whole animal, scored lower by the network) grows to that
  candidate's box.

Boxes are MegaDetector-style dicts ``{"category", "conf", "bbox": [x, y, w, h]}`` (normalised).
"""

from __future__ import annotations

from collections.abc import Sequence


def _xyxy(b: Sequence[float]) -> tuple[float, float, float, float]:
    return b[0], b[1], b[0] + b[2], b[1] + b[3]


def overlap(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """(IoU, share of a inside b, share of b inside a) of two [x, y, w, h] boxes."""
    ax1, ay1, ax2, ay2 = _xyxy(a)
    bx1, by1, bx2, by2 = _xyxy(b)
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    area_a, area_b = max(a[2] * a[3], 1e-12), max(b[2] * b[3], 1e-12)
    return inter / (area_a + area_b - inter), inter / area_a, inter / area_b


def union_box(a: Sequence[float], b: Sequence[float]) -> list[float]:
    ax1, ay1, ax2, ay2 = _xyxy(a)
    bx1, by1, bx2, by2 = _xyxy(b)
    x1, y1, x2, y2 = min(ax1, bx1), min(ay1, by1), max(ax2, bx2), max(ay2, by2)
    return [x1, y1, x2 - x1, y2 - y1]


def fuse_passes(per_pass: Sequence[list[dict]], iou: float = 0.55) -> list[dict]:
    """Detections of several passes (input sizes) -> fused detections, best first.

    Boxes are visited best first; each joins the first cluster whose fused box it overlaps
    with IoU >= ``iou`` (any category: the network has one class), else starts one. A cluster's
    box is the score-weighted mean of its members, its score the best member's.
    """
    dets = sorted((d for ds in per_pass for d in ds), key=lambda d: -d["conf"])
    clusters: list[list[dict]] = []
    fused: list[list[float]] = []
    for d in dets:
        for k, box in enumerate(fused):
            if overlap(d["bbox"], box)[0] >= iou:
                clusters[k].append(d)
                wsum = sum(m["conf"] for m in clusters[k])
                fused[k] = [sum(m["conf"] * m["bbox"][i] for m in clusters[k]) / wsum for i in range(4)]
                break
        else:
            clusters.append([d])
            fused.append(list(d["bbox"]))
    return [{"category": c[0]["category"], "conf": c[0]["conf"], "bbox": b}
            for c, b in zip(clusters, fused, strict=True)]


def merge_parts(kept: list[dict], candidates: Sequence[dict] = (), containment: float = 0.7,
                max_growth: float = 2.5, grow_min_conf: float = 0.02, grow_containment: float = 0.7,
                grow_max: float = 2.5) -> list[dict]:
    """Verified boxes (best first) -> one box per animal, best first.

    A box lying ``containment`` or more inside a surer box of its category, or overlapping it
    with IoU >= 0.5, is the same animal: it is dropped, and the surer box grows to cover both
    when the union is at most ``max_growth`` times its area (a part sticking out: the neck of a
    heron boxed by its body), else stays as it was (a flock box around one bird). Then each
    animal box that lies ``grow_containment`` inside a raw candidate of score >= ``grow_min_conf``
    at most ``grow_max`` times its area grows to that candidate (the largest such), and boxes
    that grew onto one animal are merged again.
    """
    out = _merge_kept(kept, containment, max_growth)
    grown = False
    for k in out:
        if k["category"] != "1":
            continue
        area = k["bbox"][2] * k["bbox"][3]
        best = None
        for c in candidates:
            c_area = c["bbox"][2] * c["bbox"][3]
            if c["conf"] < grow_min_conf or not area < c_area <= grow_max * area:
                continue
            if overlap(k["bbox"], c["bbox"])[1] >= grow_containment and (best is None or c_area > best[2] * best[3]):
                best = c["bbox"]
        if best is not None:
            k["bbox"], grown = union_box(k["bbox"], best), True
    return _merge_kept(out, containment, max_growth) if grown else out


def _merge_kept(kept: list[dict], containment: float, max_growth: float) -> list[dict]:
    out: list[dict] = []
    for d in sorted(kept, key=lambda d: -d["conf"]):
        for k in out:
            if k["category"] != d["category"]:
                continue
            iou, d_in_k, k_in_d = overlap(d["bbox"], k["bbox"])
            if max(d_in_k, k_in_d) >= containment or iou >= 0.5:
                u = union_box(k["bbox"], d["bbox"])
                if u[2] * u[3] <= max_growth * k["bbox"][2] * k["bbox"][3]:
                    k["bbox"] = u
                break
        else:
            out.append({**d, "bbox": list(d["bbox"])})
    return out


def drop_borrowed(kept: list[dict], det_conf: dict[tuple, float], margin: float = 0.25,
                  min_det_conf: float = 0.2, share: float = 0.5) -> list[dict]:
    """Drop animal boxes whose verification only borrowed a surer box's animal.

    A crop is taken around a box with context (``margin`` of its long side each way), so a
    box on leaves next to a jaguar is "verified" by the jaguar in its crop. Such a box, scored
    below ``min_det_conf`` by the network itself (``det_conf`` maps a bbox tuple to that
    score), is dropped when its crop holds ``share`` or more of a surer kept animal box.
    ``kept`` best first; other categories pass through.
    """
    out: list[dict] = []
    for d in kept:
        if d["category"] == "1" and det_conf.get(tuple(d["bbox"]), 1.0) < min_det_conf:
            x, y, w, h = d["bbox"]
            m = margin * max(w, h)
            crop = [x - m, y - m, w + 2 * m, h + 2 * m]
            if any(k["category"] == "1" and overlap(k["bbox"], crop)[1] >= share for k in out):
                continue
        out.append(d)
    return out
