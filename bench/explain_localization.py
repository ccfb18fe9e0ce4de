"""How well do LIME boxes find the animal? IoU against known boxes, beside the detector's best box.

    .venv/bin/python bench/explain_localization.py MODEL --set heron|jaguar|synth-test|synth-train
        [--synth DIR] [--limit N] [--samples 500] [--class animal] [--sweep]

Sets (ground truth):
  heron        the kit's real night-IR heron burst, boxes from the Camtrap DP observations.csv
  jaguar       the kit's jaguars, MegaDetector v5 boxes from reid_manifest.csv (a peer detector's
               output, not human boxes)
  synth-test   `irbis synth` composites of the test cameras with a visible animal (cct.json boxes)
  synth-train  the same for the train cameras: the only set used to choose defaults (--sweep)

For every photo: LIME on the whole frame as the model sees it (irbis.stages.explain_photo, --view centre or full),
its box's IoU with the truth; and the irbis detector's (megadetector-lite) most confident animal
box's IoU with the truth. Prints mean IoU and the share with IoU >= 0.5 for both, and the share of
truth boxes lying partly outside the network's centre crop (LIME cannot see there).
--sweep scores each photo once per superpixel count and refits with other kernel widths, target
spaces and box fractions (cheap: the fit is the only part repeated).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from irbis.imageio import DRAFT_FACTOR, network_input, open_image  # noqa: E402
from irbis.stages import explain as lime  # noqa: E402
from irbis.stages.classify import ClassifierSpec  # noqa: E402
from irbis.stages.explain_photo import ExplainSpec, centre_crop_view, to_photo_box  # noqa: E402
from irbis.stages.repeat_detections import iou  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
KIT = REPO.parent / "shared" / "data"


def heron(kit: Path) -> list[tuple[Path, list[float]]]:
    d = kit / "cameratrap/dev/camtrapdp_heron"
    media = {r["mediaID"]: r["fileName"] for r in csv.DictReader(open(d / "media.csv"))}
    out = []
    for r in csv.DictReader(open(d / "observations.csv")):
        if r["bboxX"] and r["mediaID"] in media and (d / media[r["mediaID"]]).is_file():
            out.append((d / media[r["mediaID"]], [float(r[k]) for k in ("bboxX", "bboxY", "bboxWidth", "bboxHeight")]))
    return out


def jaguar(kit: Path) -> list[tuple[Path, list[float]]]:
    d = kit / "cameratrap/dev/animl_Jaguar"
    best: dict[str, tuple[float, list[float]]] = {}
    for r in csv.DictReader(open(d / "reid_manifest.csv")):
        if r["category"] == "1" and (d / r["filename"]).is_file():
            conf = float(r["conf"])
            if conf > best.get(r["filename"], (-1, None))[0]:
                best[r["filename"]] = (conf, [float(r[k]) for k in ("bbox_x", "bbox_y", "bbox_w", "bbox_h")])
    return [(d / f, b) for f, (_, b) in sorted(best.items())]


def synth(root: Path, split: str) -> list[tuple[Path, list[float]]]:
    cct = json.loads((root / "cct.json").read_text())
    images = {im["id"]: im for im in cct["images"]}
    out = []
    for a in cct["annotations"]:
        im = images[a["image_id"]]
        if "bbox" in a and im.get("split") == split:
            x, y, w, h = a["bbox"]
            W, H = im["width"], im["height"]
            out.append((root / im["file_name"], [x / W, y / H, w / W, h / H]))
    return sorted(out)


def detector_ious(pairs, detector_name: str) -> list[float]:
    from irbis.stages.crops import best_animal_box
    from irbis.stages.detectors import resolve_detector
    det = resolve_detector(detector_name, threads=1)
    out = []
    for path, truth in pairs:
        item, meta = det.prepare(path)
        best = best_animal_box(det.run([item], [meta])[0])
        out.append(iou(best["bbox"], truth) if best else 0.0)
    return out


def inside_view(path: Path, truth: list[float], prep, view: str = "centre") -> bool:
    from PIL import Image
    if view == "full":
        return True
    with Image.open(path) as im:
        size = im.size
    x0, y0, x1, y1 = centre_crop_view(size, prep)
    W, H = size
    return (truth[0] * W >= x0 - 1 and truth[1] * H >= y0 - 1 and (truth[0] + truth[2]) * W <= x1 + 1
            and (truth[1] + truth[3]) * H <= y1 + 1)


def summary(name: str, ious: list[float]) -> str:
    a = np.asarray(ious)
    return f"{name:<28} mean IoU {a.mean():.3f}   IoU>=0.5 {np.mean(a >= 0.5):.1%}   (n={len(a)})"


def run_eval(pairs, scorer, options, target, detector: str | None, view: str = "centre") -> None:
    ious, r2s, seconds = [], [], 0.0
    stage = ExplainSpec(scorer.spec, options, target, view, preview=False).build()
    for path, truth in pairs:
        t = time.perf_counter()
        v = stage.explain_path(str(path)).views[0]
        seconds += time.perf_counter() - t
        ious.append(iou(v.bbox, truth) if v.bbox else 0.0)
        r2s.append(v.explanation.r2)
        print(f"  {path.name}: IoU {ious[-1]:.3f} r² {r2s[-1]:.2f} p {v.explanation.probability:.3f} "
              f"(running mean IoU {np.mean(ious):.3f}, n={len(ious)})", flush=True)
    inside = np.mean([inside_view(p, t, scorer.prep, view) for p, t in pairs])
    print(summary(f"LIME box (whole frame, {view})", ious))
    print(f"  fit r² median {np.median(r2s):.2f}; {seconds / len(pairs):.2f} s/photo at {options.samples} samples; "
          f"truth box inside the network's view: {inside:.0%}")
    if detector:
        print(summary(f"detector best box ({detector})", detector_ious(pairs, detector)))


def connected_to_top(segments: np.ndarray, chosen: list[int], weights: np.ndarray) -> list[int]:
    """The chosen superpixels that touch the top one through other chosen superpixels: one
    animal's evidence, not every scattered patch of background that also scored."""
    if len(chosen) <= 1:
        return list(chosen)
    pairs = np.concatenate([np.stack([segments[:, :-1].ravel(), segments[:, 1:].ravel()], 1),
                            np.stack([segments[:-1, :].ravel(), segments[1:, :].ravel()], 1)])
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    keep = set(chosen)
    neighbours: dict[int, set[int]] = {k: set() for k in keep}
    for a, b in np.unique(pairs, axis=0).tolist():
        if a in keep and b in keep:
            neighbours[a].add(b)
            neighbours[b].add(a)
    start = max(chosen, key=lambda k: weights[k])
    seen, todo = {start}, [start]
    while todo:
        for n in neighbours[todo.pop()]:
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return sorted(seen)


def run_sweep(pairs, scorer, base: lime.LimeOptions, target: int) -> None:
    """Score once per superpixel count; refit per (space, kernel width); box per fraction."""
    results: dict[tuple, list[float]] = {}
    for segments in (25, 49, 100):
        options = lime.LimeOptions(**{**base.as_dict(), "segments": segments})
        for path, truth in pairs:
            im = open_image(path, min_short_side=math.ceil(DRAFT_FACTOR * scorer.prep.resize_short))
            x = network_input(im, scorer.prep)
            view = centre_crop_view(im.size, scorer.prep)
            seg = lime.superpixels(x, segments, options.compactness)
            masks = lime.sample_masks(int(seg.max()) + 1, options)
            p = lime.score_masked(x, seg, masks, scorer, options.batch)[:, target]
            for space in lime.SPACES:
                for width in (0.25, 0.5, 0.75):
                    weights, _, _ = lime.fit_weights(masks, lime.to_space(p, space), width)
                    for frac in (0.1, 0.3, 0.5, 0.7):
                        chosen = lime.top_superpixels(weights, frac)
                        for region in ("all", "connected"):
                            if region == "connected":
                                chosen = connected_to_top(seg, chosen, weights)
                            b = to_photo_box(lime.box_of(seg, chosen), view, im.size)
                            results.setdefault((segments, space, width, frac, region), []).append(
                                iou(b, truth) if b else 0.0)
    for key, v in sorted(results.items(), key=lambda kv: -np.mean(kv[1])):
        print(f"segments={key[0]:<4} space={key[1]:<12} width={key[2]:<5} box_fraction={key[3]:<4} {key[4]:<9} "
              f"mean IoU {np.mean(v):.3f}  IoU>=0.5 {np.mean(np.asarray(v) >= 0.5):.1%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--set", required=True, choices=["heron", "jaguar", "synth-test", "synth-train"])
    ap.add_argument("--kit", type=Path, default=KIT)
    ap.add_argument("--synth", type=Path, help="an `irbis synth` output folder (synth sets)")
    ap.add_argument("--limit", type=int, help="first N photos only (every k-th, spread over the set)")
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--class", dest="class_name", default="animal")
    ap.add_argument("--detector", default="megadetector-lite", help="'' for no detector column")
    ap.add_argument("--sweep", action="store_true", help="choose defaults (synth-train only)")
    ap.add_argument("--view", choices=["centre", "full"], default="centre",
                    help="whole frame as predict sees it (centre) or padded square, nothing cut off (full)")
    args = ap.parse_args()
    if args.set == "heron":
        pairs = heron(args.kit)
    elif args.set == "jaguar":
        pairs = jaguar(args.kit)
    else:
        pairs = synth(args.synth, args.set.split("-")[1])
    if args.limit and len(pairs) > args.limit:
        step = len(pairs) / args.limit
        pairs = [pairs[int(i * step)] for i in range(args.limit)]
    scorer = ClassifierSpec(str(args.model)).build()
    target = scorer.classes.index(args.class_name)
    options = lime.LimeOptions(samples=args.samples)
    print(f"set {args.set}: {len(pairs)} photos; model {args.model}; class {args.class_name}; {options}")
    if args.sweep:
        if args.set != "synth-train":
            sys.exit("--sweep chooses defaults: run it on synth-train only")
        run_sweep(pairs, scorer, options, target)
    else:
        run_eval(pairs, scorer, options, target, args.detector or None, args.view)


if __name__ == "__main__":
    main()
