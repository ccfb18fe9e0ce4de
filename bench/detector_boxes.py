"""Box-level quality of the offline detector on every boxed dev set (never the holdout).

    .venv/bin/python bench/detector_boxes.py [--data ../shared/data] [--proxy SYNTH_DIR] [--variants a,b]

Sets with true boxes:

* ``heron``: cameratrap/dev/camtrapdp_heron, the Camtrap DP ground truth (10 boxes);
* ``jaguar``: cameratrap/dev/animl_Jaguar, MegaDetector v5's boxes in reid_manifest.csv (a peer's
  output: agreement, not truth);
* ``proxy``: photos built by ``irbis synth`` (true boxes in its cct.json); without ``--proxy`` a
  fixed set is built into a temporary folder (seed 0, 6 cameras x 4 bursts of 3, 1024x768).

* ``mdsamp``: cameratrap/dev/megadetector_samples noted "red boxes drawn into the pixels": the
  publisher's boxes are read back from the pixels (connected red outlines wider and taller than
  3 % of the photo); photos where none is found are left out. The detector sees those red
  outlines too, so this column is agreement with the publisher, read loosely.

Per variant and set: box precision and recall at IoU >= 0.5 for boxes with conf >= 0.2 (the
CLI's default threshold), AP at IoU 0.5 (all-point interpolation over every box the variant
returns) and animal boxes (conf >= 0.2) per true animal. Then photo-level recall on the animal
sets of bench/detector_dev_eval.py and the share of animal-free photos with an animal box,
and photos with a person box per set. Variants share one cache of raw detections and crop
probabilities. The variants were compared on these photos: development figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pickle
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector_dev_eval import ANIMAL_SETS, EMPTY_SETS, Bench, load_sets

from irbis.stages.box_fusion import drop_borrowed, fuse_passes, merge_parts, overlap
from irbis.stages.people import PeopleDetector, merge_people
from irbis.stages.verify_boxes import ANIMAL, PERSON, VerifyOptions, merge_detections, suppress_contained
from irbis.stages.zoom_windows import pixel_box, plan_windows, to_photo

THRESHOLD = 0.2


def match(dets: list[dict], truth: list[list[float]], iou: float = 0.5) -> list[bool]:
    """Greedy matching, best box first: True per detection that takes a still unmatched truth box."""
    used, hits = set(), []
    for d in dets:
        best, best_iou = None, iou
        for j, g in enumerate(truth):
            if j not in used and (o := overlap(d["bbox"], g)[0]) >= best_iou:
                best, best_iou = j, o
        hits.append(best is not None)
        if best is not None:
            used.add(best)
    return hits


def box_metrics(out: dict[str, list[dict]], truth: dict[str, list[list[float]]]) -> dict:
    """Precision / recall at conf >= THRESHOLD, AP50 and boxes per true animal over photos with truth."""
    n_true = sum(len(truth[f]) for f in out)
    scored = []  # (conf, hit) over every animal box
    tp = n_boxes = 0
    for f, dets in out.items():
        dets = sorted((d for d in dets if d["category"] == ANIMAL), key=lambda d: -d["conf"])
        hits = match(dets, truth[f])
        scored += [(d["conf"], h) for d, h in zip(dets, hits, strict=True)]
        above = [d for d in dets if d["conf"] >= THRESHOLD]
        tp += sum(match(above, truth[f]))
        n_boxes += len(above)
    scored.sort(key=lambda t: -t[0])
    hits = np.array([h for _, h in scored], dtype=float)
    ap = 0.0
    if len(hits) and n_true:
        ctp = np.cumsum(hits)
        rec, prec = ctp / n_true, ctp / np.arange(1, len(hits) + 1)
        prec = np.maximum.accumulate(prec[::-1])[::-1]
        ap = float(np.sum(np.diff(np.concatenate([[0.0], rec])) * prec))
    return {"P": tp / max(n_boxes, 1), "R": tp / max(n_true, 1), "AP50": ap, "per_animal": n_boxes / max(n_true, 1),
            "tp": tp, "true": n_true}


def build_proxy(kit: Path, out: Path) -> Path:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    subprocess.run([sys.executable, "-m", "irbis.cli", "synth", str(out), "--kit", str(kit), "--seed", "0",
                    "--cameras", "6", "--bursts-per-camera", "4", "--empty-fraction", "0.2", "--quiet"],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return out


def load_proxy(folder: Path) -> tuple[list[str], dict[str, list[list[float]]], list[str]]:
    cct = json.loads((folder / "cct.json").read_text())
    images = {im["id"]: im for im in cct["images"]}
    truth: dict[str, list[list[float]]] = {}
    for a in cct["annotations"]:
        im = images[a["image_id"]]
        if "bbox" in a:
            x, y, w, h = a["bbox"]
            truth.setdefault(im["file_name"], []).append([x / im["width"], y / im["height"],
                                                          w / im["width"], h / im["height"]])
    boxed = sorted(str(folder / fn) for fn in truth)
    empty = sorted(str(folder / im["file_name"]) for im in cct["images"] if im["file_name"] not in truth)
    return boxed, {str(folder / fn): bs for fn, bs in truth.items()}, empty


def red_boxes(path: str) -> list[list[float]]:
    """Boxes drawn in red into a photo's pixels (MegaDetector's sample visualisations)."""
    from PIL import Image
    from scipy import ndimage
    im = np.asarray(Image.open(path).convert("RGB")).astype(int)
    H, W, _ = im.shape
    lab, _ = ndimage.label((im[..., 0] > 170) & (im[..., 1] < 80) & (im[..., 2] < 80))
    out = []
    for i, sl in enumerate(ndimage.find_objects(lab)):
        h, w = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
        if w > 0.03 * W and h > 0.03 * H and (lab[sl] == i + 1).sum() < 0.5 * w * h:  # an outline, not a blob
            out.append([sl[1].start / W, sl[0].start / H, w / W, h / H])
    return out


def load_md_samples(data: Path) -> dict[str, list[list[float]]]:
    manifest = data / "cameratrap" / "manifest.csv"
    with open(manifest, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if "red box" in r["note"].lower()]
    boxes = {str(data / "cameratrap" / r["file"]): red_boxes(str(data / "cameratrap" / r["file"])) for r in rows}
    return {f: b for f, b in boxes.items() if b}


def variants():
    base = VerifyOptions()
    sure = replace(base, sure_conf=0.5)
    yield "current default: 640+1280 NMS, verify, drop contained", dict(sizes=(640, 1280), fusion="nms",
                                                                      options=base, parts=None)
    yield "current -fast: 640, verify, drop contained", dict(sizes=(640,), fusion="nms", options=base, parts=None)
    yield "A  + fuse passes (WBF 0.55)", dict(sizes=(640, 1280), fusion="wbf", options=base, parts=None)
    yield "B  A + merge parts (union <= 2.5x)", dict(sizes=(640, 1280), fusion="wbf", options=base, parts="kept")
    yield "C  B + grow to raw candidate", dict(sizes=(640, 1280), fusion="wbf", options=base, parts="grow")
    yield "D  C + sure boxes (conf>=0.5, any-animal mass>=0.25)", dict(sizes=(640, 1280), fusion="wbf",
                                                                     options=sure, parts="grow")
    yield "E  B + sure boxes", dict(sizes=(640, 1280), fusion="wbf", options=sure, parts="kept")
    yield "G  D + drop borrowed (det < 0.2)", dict(sizes=(640, 1280), fusion="wbf", options=sure, parts="grow",
                                                  borrowed=0.2)
    yield "H  D + drop borrowed (det < 0.1)", dict(sizes=(640, 1280), fusion="wbf", options=sure, parts="grow",
                                                  borrowed=0.1)
    yield "I  E + drop borrowed (det < 0.2)", dict(sizes=(640, 1280), fusion="wbf", options=sure, parts="kept",
                                                  borrowed=0.2)
    yield "J  -fast: 640 + parts + grow + sure + borrowed", dict(sizes=(640,), fusion="wbf", options=sure, parts="grow",
                                                               borrowed=0.2)
    for gc in (0.8, 0.9):
        for gm in (1.8, 2.2, 2.5, 3.0):
            yield f"K  G, grow if >= {gc} inside, <= {gm}x", dict(
                sizes=(640, 1280), fusion="wbf", options=sure, parts="grow", borrowed=0.2,
                grow=dict(grow_containment=gc, grow_max=gm))
    yield "P  G + YOLOv3-tiny people 416", dict(sizes=(640, 1280), fusion="wbf", options=sure, parts="grow",
                                               borrowed=0.2, people=416)
    yield "Q  G + YOLOv3-tiny people 608", dict(sizes=(640, 1280), fusion="wbf", options=sure, parts="grow",
                                               borrowed=0.2, people=608)
    yield "R  J (-fast) + people 416", dict(sizes=(640,), fusion="wbf", options=sure, parts="grow", borrowed=0.2,
                                           people=416)
    for lb in (0.3, 0.5, 0.7):
        yield f"S  P, 1280 pass only when 640's best < {lb}", dict(
            sizes=(640, 1280), fusion="wbf", options=sure, parts="grow", borrowed=0.2, people=416, large_below=lb)
    yield "F  -fast: 640 + merge parts + grow + sure", dict(sizes=(640,), fusion="wbf", options=sure, parts="grow")
    for area in (0.005, 0.01, 0.02):
        for conf in (0.5, 0.65):
            yield f"V  S 0.7 (v2 default), drop animal boxes < {area:.1%} of the frame scored < {conf}", dict(
                sizes=(640, 1280), fusion="wbf", options=sure, parts="grow", borrowed=0.2, people=416,
                large_below=0.7, small=(area, conf))
    for trust in (0.6, 0.7, 0.8, 0.9):
        yield f"T  S 0.7 (v2 default), no crop check for boxes >= {trust}", dict(
            sizes=(640, 1280), fusion="wbf", options=sure, parts="grow", borrowed=0.2, people=416, large_below=0.7,
            trust=trust)
        yield f"U  R (v2 -fast), no crop check for boxes >= {trust}", dict(
            sizes=(640,), fusion="wbf", options=sure, parts="grow", borrowed=0.2, people=416, trust=trust)
    for n, floor in ((1, 0.05), (2, 0.05), (3, 0.05), (3, 0.02), (4, 0.02)):
        yield f"Z  S 0.7 (v2 default), {n} zoom windows >= {floor} for 1280", dict(
            sizes=(640, 1280), fusion="wbf", options=sure, parts="grow", borrowed=0.2, people=416, large_below=0.7,
            zoom=(n, floor, 0.0))
    for tile, n in ((0.5, 2), (0.56, 2), (0.6, 2), (0.65, 2), (0.5, 3), (0.45, 3)):
        yield f"Y  S 0.7 (v2 default), {n}x{n} tiles {tile} for 1280", dict(
            sizes=(640, 1280), fusion="wbf", options=sure, parts="grow", borrowed=0.2, people=416, large_below=0.7,
            zoom=(0, 0.0, tile, n))


def run_variant(bench: Bench, f: str, sizes, fusion: str, options: VerifyOptions, parts: str | None,
                borrowed: float = 0.0, grow: dict | None = None, people: int = 0,
                large_below: float = 1.1, trust: float = 1.1, small: tuple[float, float] = (0.0, 0.0),
                zoom: tuple | None = None) -> list[dict]:
    per = [bench.dets(sizes[0], f)]
    if max((d["conf"] for d in per[0]), default=0.0) < large_below:  # later passes only where unsure
        per += [zoom_dets(bench, f, per[0], *zoom)] if zoom else [bench.dets(s, f) for s in sizes[1:]]
    raw = fuse_passes(per) if fusion == "wbf" else merge_detections(per)
    v = bench.verifiers[options.land_vertebrates_only]
    v.options = options
    cands = v.candidates(raw)
    checked = [c for c in cands if c["conf"] < trust]
    scores = bench.crop_scores(f, checked, options) if checked else np.zeros((0, 5))
    kept = sorted(v.classify(checked, scores) + [dict(c, category=ANIMAL) for c in cands if c["conf"] >= trust],
                  key=lambda d: -d["conf"])
    if borrowed:
        kept = drop_borrowed(kept, {tuple(c["bbox"]): c["conf"] for c in cands}, options.margin, borrowed)
    if parts is None:
        return suppress_contained(kept, options.containment)
    dets = merge_parts(kept, raw if parts == "grow" else (), options.containment, **(grow or {}))
    dets = [d for d in dets if d["category"] != ANIMAL or d["bbox"][2] * d["bbox"][3] >= small[0]
            or d["conf"] >= small[1]]
    if people:
        dets = merge_people(dets, people_dets(bench, people, f))
    return dets


def zoom_dets(bench: Bench, f: str, first: list[dict], n: int, floor: float, tile: float = 0.0,
              per_side: int = 2) -> list[dict]:
    """The 640 px network on zoom windows planned from the 640 px boxes, in photo coordinates; cached
    per window (as FusedDetector.zoom_dets)."""
    out = []
    for window in plan_windows(first, n, floor, tile=tile, per_side=per_side):
        key = ("zoom" + ",".join(f"{v:.5f}" for v in window), f)
        if key not in bench.raw:
            im = bench.image(f)
            d = bench.detectors[640]
            arr, meta = d.prepare_image(im.crop(pixel_box(window, *im.size)))
            bench.raw[key] = d.run(arr[None], [meta])[0]
        out += to_photo(bench.raw[key], window)
    bench.windows = getattr(bench, "windows", 0) + len(plan_windows(first, n, floor, tile=tile, per_side=per_side))
    return out


PEOPLE: dict[tuple[int, str], list[dict]] = {}


def people_dets(bench: Bench, size: int, f: str) -> list[dict]:
    """YOLOv3-tiny person / vehicle boxes (threshold 0.2, filtered per variant), cached."""
    if (size, f) not in PEOPLE:
        if size not in bench.__dict__.setdefault("people", {}):
            bench.people[size] = PeopleDetector(size, person_threshold=0.2, vehicle_threshold=0.2)
        PEOPLE[(size, f)] = bench.people[size].detect(bench.image(f))
    default = PeopleDetector.__init__.__defaults__  # (size, person, vehicle, ...) thresholds as shipped
    keep = {"2": default[1], "3": default[2]}
    return [d for d in PEOPLE[(size, f)] if d["conf"] >= keep[d["category"]]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--proxy", help="an `irbis synth` output folder (default: build one)")
    ap.add_argument("--variants", help="comma-separated variant prefixes to run (default: all)")
    ap.add_argument("--cache", help="pickle file keeping raw detections and crop probabilities between runs")
    ap.add_argument("--dump", help="write every variant's boxes per photo to this JSON file")
    ap.add_argument("--levers", help="instead of the variants: whole detectors, registry names or "
                                     "bench/detect_v2_speed.py lever specs (v2+rect+int8,...), each on every photo")
    args = ap.parse_args()
    os.environ.setdefault("IRBIS_HOME", tempfile.mkdtemp(prefix="irbis-bench-"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        strips = Path(args.cache + ".strips") if args.cache else tmp / "strips"  # stable paths for the cache
        strips.mkdir(exist_ok=True)
        sets, gt = load_sets(Path(args.data), strips)
        proxy = Path(args.proxy) if args.proxy else build_proxy(Path(args.data), tmp / "proxy")
        boxed, proxy_truth, proxy_empty = load_proxy(proxy)
        sets["proxy"], sets["proxyempty"] = boxed, proxy_empty
        truth = {f: gt.get(Path(f).name, []) for n in ("heron", "jaguar") for f in sets[n]}
        truth.update(proxy_truth)
        md_truth = load_md_samples(Path(args.data))
        truth.update(md_truth)
        sets["mdboxed"] = sorted(md_truth)
        if args.levers:
            return run_levers(args.levers.split(","), sets, truth, args.dump)
        bench = Bench()
        if args.cache and Path(args.cache).exists():
            with open(args.cache, "rb") as fh:
                bench.raw, bench.probs, people = pickle.load(fh)
                PEOPLE.update(people)
        dump, per_set = {}, []
        chosen = [p.strip() for p in args.variants.split(",")] if args.variants else None
        print(HEADER)
        for label, cfg in variants():
            if chosen and not any(label.startswith(c) for c in chosen):
                continue
            bench.windows = 0
            out = {f: run_variant(bench, f, **cfg) for fs in sets.values() for f in fs}
            dump[label] = out
            per_set.append(report(label, out, sets, truth))
            if cfg.get("zoom"):
                print(f"{'':4s}zoom windows: {bench.windows} on {sum(len(fs) for fs in sets.values())} photo visits")
        if args.cache:
            with open(args.cache, "wb") as fh:
                pickle.dump((bench.raw, bench.probs, PEOPLE), fh)
        if args.dump:
            Path(args.dump).write_text(json.dumps({"truth": truth, "sets": sets, "variants": dump}))
        footer(per_set)
    return 0


HEADER = (f"{'variant':56s} {'heron P/R AP50 box/an':>26s} {'jaguar vs MDv5':>26s} {'proxy':>26s}"
          f" {'MD samples vs red boxes':>26s} {'recall':>7s} {'FP':>6s} {'proxyFP':>7s}  person boxes")


def report(label: str, out: dict[str, list[dict]], sets: dict[str, list[str]], truth: dict) -> str:
    """Print one variant's row; return its photos-with-an-animal-box per set."""
    cols = []
    for n in ("heron", "jaguar", "proxy", "mdboxed"):
        m = box_metrics({f: out[f] for f in sets[n]}, truth)
        cols.append(f"{m['P']:.2f}/{m['R']:.2f} {m['AP50']:.3f} {m['per_animal']:.2f} ({m['tp']}/{m['true']})")

    def found(n, cat=ANIMAL):
        return sum(any(d["category"] == cat for d in out[f]) for f in sets[n])
    rec = sum(found(n) for n in ANIMAL_SETS) / sum(len(sets[n]) for n in ANIMAL_SETS)
    fp = sum(found(n) for n in EMPTY_SETS) / sum(len(sets[n]) for n in EMPTY_SETS)
    pfp = found("proxyempty") / max(1, len(sets["proxyempty"]))
    people = " ".join(f"{n}={found(n, PERSON)}" for n in sets if found(n, PERSON))
    print(f"{label:56s} " + " ".join(f"{c:>26s}" for c in cols)
          + f" {rec:7.1%} {fp:6.1%} {pfp:7.1%}  {people}", flush=True)
    return f"{label[:56]:56s} " + " ".join(f"{n}={found(n)}/{len(sets[n])}" for n in sets)


def footer(per_set: list[str]) -> None:
    print("\nphotos with an animal box per set:\n" + "\n".join(per_set))
    print("\ncolumns: P/R at IoU >= 0.5 and conf >= 0.2, AP50, animal boxes per true animal (matched/true);"
          f" recall: photos of {'+'.join(ANIMAL_SETS)} with an animal box; FP: photos of"
          f" {'+'.join(EMPTY_SETS)} with one; proxyFP: proxy frames without an animal with one.")


def run_levers(specs: list[str], sets: dict[str, list[str]], truth: dict, dump_path: str | None) -> int:
    """Whole detectors (registry names or lever specs) on every photo, one row each."""
    from detect_v2_speed import lever_detector
    print(HEADER)
    per_set, dump = [], {}
    photos = sorted({f for fs in sets.values() for f in fs})
    for spec in specs:
        det = lever_detector(spec, threads=1)
        out = {f: det.detect(f) for f in photos}
        dump[spec] = out
        per_set.append(report(spec, out, sets, truth))
    footer(per_set)
    if dump_path:
        Path(dump_path).write_text(json.dumps({"truth": truth, "sets": sets, "variants": dump}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
