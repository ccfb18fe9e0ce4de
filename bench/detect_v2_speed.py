"""`irbis run` end to end, detector v1 against v2 and v2's speed levers, side by side on the same photos.

    .venv/bin/python bench/detect_v2_speed.py [--n 30] [--kit ../shared/data]
    .venv/bin/python bench/detect_v2_speed.py --profile --n 16 --detectors v2,megadetector-lite
    .venv/bin/python bench/detect_v2_speed.py --pipelined --n 16 --detectors v2,v2+rect,v2+int8,...

The photos and the command are bench/detect.py's end-to-end rows (real trap frames re-encoded
at 2048x1536; ``irbis run`` with a bundle trained on the demo photos, ``--threads 2``): per
detector photos/s of the whole command and without its start-up (a 1-photo run subtracted).
Rows are measured one after the other in one run; the load average is printed. On a shared
machine whose load changes over minutes that still skews ratios, so ``--interleaved`` times the
detectors in one process photo by photo, in turn (decode + detect + verify + side detector, no
classification, no start-up): the ratios then share the same load.

``--profile`` splits one detector's photo into its stages (decode, letterbox and YOLOX per pass,
crop verification, the side detector, classification of the animal boxes), one thread.
``--pipelined`` runs `irbis run`'s work in process (the engine's decode thread ahead of this
thread's inference, box classification, ``--threads`` as the CLI), detectors in turn on the
same chunks of photos. Detectors are registry names or issue 10's levers on the v2 detector as
it was before them (``v2``): ``v2+rect``, ``v2+int8``, ``v2+ahead``, ``v2+trust0.9``, ``v2+fast``,
``v2+zoom3``, ``v2+tiles0.56`` and combinations (:func:`lever_detector`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from detect import bench_irbis_run  # noqa: E402
from featurize import make_photos  # noqa: E402

DETECTORS = ("megadetector-lite-v1", "megadetector-lite", "megadetector-lite-fast-v1", "megadetector-lite-fast",
             "megadetector-lite-raw")
# Issue 10's speed levers, combined with "+": rect (640 x 480 canvas for 4:3), int8 (INT8 graph),
# ahead (side detector on the decode thread), trustX (no crop check for boxes scored >= X),
# fast (640 px pass only), zoomN / tilesX (zoom windows instead of the 1280 px pass: at most N
# around the 640 px boxes, or 2 x 2 (N x N with tilesXxN) overlapping tiles X of the photo); "v2" alone is the v2
# default as it was (square, float, all checked).
LEVER_FLAGS = {"rect": {"rect": True}, "int8": {"int8": True}, "ahead": {"side_in_prepare": True}}


def lever_detector(spec: str, threads: int = 1):
    """A registry name, or v2 with levers: e.g. ``v2+rect+int8``, ``v2+fast+trust0.8``."""
    from irbis.stages.detect_v2 import FusedDetector
    from irbis.stages.detectors import resolve_detector
    from irbis.stages.people import PeopleDetector
    if not spec.startswith("v2"):
        return resolve_detector(spec, threads=threads)
    kw: dict = {"sizes": (640, 1280)}
    side_threads = threads
    for tok in spec.split("+")[1:]:
        if tok == "ahead1":     # side detector on the decode thread with one OpenCV thread
            kw["side_in_prepare"], side_threads = True, 1
        elif tok == "fast":
            kw["sizes"] = (640,)
        elif tok.startswith("trust"):
            kw["trust_conf"] = float(tok[len("trust"):])
        elif tok.startswith("zoom"):     # zoomN: at most N zoom windows instead of the 1280 px pass
            kw["zoom"] = int(tok[len("zoom"):])
        elif tok.startswith("tiles"):    # tilesX[xN]: N x N (2) overlapping tiles X of the photo instead
            size, _, n = tok[len("tiles"):].partition("x")
            kw["zoom_tiles"], kw["zoom_grid"] = float(size), int(n or 2)
        else:
            kw.update(LEVER_FLAGS[tok])
    return FusedDetector(threads=threads, people=PeopleDetector(threads=side_threads), **kw)


def warm_up(d, photo) -> None:
    """Export the ONNX graphs and load the weights of every pass before timing: the 1280 px pass
    too, which ``photo`` alone may not run (its first use would be timed with its export)."""
    d.run(*[[x] for x in d.prepare(photo)])
    from irbis.imageio import open_image
    from irbis.stages.detect import DetectMeta
    im = open_image(photo, min_short_side=1280)
    for det in getattr(d, "detectors", []):
        arr, content = det.letterbox(im)
        det.run([arr], [DetectMeta(im.width, im.height, content)])


def interleaved(args) -> int:
    import time

    names = args.detectors.split(",")
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp_name:
        os.environ["IRBIS_HOME"] = str(Path(tmp_name) / "home")
        photos = make_photos(Path(args.kit), Path(tmp_name) / "photos", args.n)
        detectors = {n: lever_detector(n, threads=1) for n in names}
        for d in detectors.values():
            warm_up(d, photos[0])
        seconds = dict.fromkeys(names, 0.0)
        cpu = dict.fromkeys(names, 0.0)   # CPU seconds of this process: what other jobs' load does not add
        for j, p in enumerate(photos):
            for n in names[j % len(names):] + names[:j % len(names)]:   # the first in turn rotates
                d = detectors[n]
                t, c = time.perf_counter(), time.process_time()
                item, meta = d.prepare(p)
                d.run([item], [meta])
                seconds[n] += time.perf_counter() - t
                cpu[n] += time.process_time() - c
    print(f"\ndetectors in turn, photo by photo, one thread, {args.n} photos 2048x1536; load average "
          f"{load0[0]:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores)")
    print(f"{'detector':28s} {'s/photo':>8s} {'photos/s':>9s} {'vs ' + names[0]:>14s} {'CPU s/photo':>12s}"
          f" {'CPU vs ' + names[0]:>18s}")
    for n in names:
        print(f"{n:28s} {seconds[n] / args.n:8.2f} {args.n / seconds[n]:9.2f} {seconds[names[0]] / seconds[n]:13.2f}x"
              f" {cpu[n] / args.n:12.3f} {cpu[names[0]] / cpu[n]:17.2f}x")
    return 0


def photos_and_classifier(args, tmp: Path):
    """The bench photos and the box classifier ``irbis run`` would use (``--model``, else a bundle
    trained on the demo photos), in an irbis home under ``tmp``."""
    from detect import irbis_cli

    from irbis.stages.classify import ClassifierSpec
    os.environ["IRBIS_HOME"] = str(tmp / "home")
    photos = make_photos(Path(args.kit), tmp / "photos", args.n)
    bundle = args.model or str(tmp / "model.irbis")
    if not args.model:
        irbis_cli("train", str(REPO / "examples/demo/train/labels.csv"), "--out", bundle, "--C", "1",
                  "--catalog", str(tmp / "train.sqlite"), "--quiet")
    return photos, ClassifierSpec(bundle).build()


def pipelined(args) -> int:
    """`irbis run`'s work in process, detectors in turn on the same chunks of photos (the order
    rotating from chunk to chunk: the first after a switch was measured slower).

    Per chunk and detector: the local engine's decode thread runs ``prepare`` ahead while this
    thread detects and classifies every animal box >= 0.2 with a bundle (as ``irbis run``,
    ``--threads`` for the detector's inference, 1 for the classifier); no start-up, no JSON."""
    import time

    from irbis.engines.local import map_prepared
    from irbis.records import ANIMAL
    names = args.detectors.split(",")
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp_name:
        photos, classifier = photos_and_classifier(args, Path(tmp_name))
        detectors = {n: lever_detector(n, threads=args.threads) for n in names}
        for d in detectors.values():
            warm_up(d, photos[0])
        seconds = dict.fromkeys(names, 0.0)
        boxes = dict.fromkeys(names, 0)
        for c, start in enumerate(range(0, len(photos), args.chunk)):
            chunk = photos[start:start + args.chunk]
            turn = names[c % len(names):] + names[:c % len(names)]   # whoever goes first changes every chunk
            for n in turn:
                d = detectors[n]
                t = time.perf_counter()
                for _, (item, meta), _ in map_prepared(chunk, d.prepare, 1):
                    image = meta.image
                    dets = [x for x in d.run([item], [meta])[0] if x["conf"] >= 0.2]
                    animals = [x for x in dets if x["category"] == ANIMAL]
                    classifier.classify_boxes(image, animals)
                    boxes[n] += len(animals)
                seconds[n] += time.perf_counter() - t
    print(f"\n`irbis run`'s work in process, detectors in turn on chunks of {args.chunk}, decode thread ahead, "
          f"--threads {args.threads}; {args.n} photos 2048x1536; load average {load0[0]:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after (2 cores)")
    print(f"{'detector':28s} {'s/photo':>8s} {'photos/s':>9s} {'animal boxes':>13s} {'vs ' + names[0]:>20s}")
    for n in names:
        print(f"{n:28s} {seconds[n] / args.n:8.3f} {args.n / seconds[n]:9.2f} {boxes[n]:13d} "
              f"{seconds[names[0]] / seconds[n]:19.2f}x")
    return 0


def profile(args) -> int:
    """Where a v2 photo's time goes, stage by stage, one thread, for each detector spec given."""
    import time

    from irbis.imageio import open_image
    from irbis.records import ANIMAL
    from irbis.stages.box_fusion import fuse_passes
    from irbis.stages.detect import DetectMeta, content_size
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp_name:
        photos, classifier = photos_and_classifier(args, Path(tmp_name))
        for spec in args.detectors.split(","):
            d = lever_detector(spec, threads=1)
            T: dict[str, float] = {}
            counts = dict.fromkeys(("1280 pass", "crops", "animal boxes"), 0)

            def tick(key: str, t0: float, T=T) -> None:
                T[key] = T.get(key, 0.0) + time.perf_counter() - t0
            for warm in (True, False):
                for p in photos[:1] if warm else photos:
                    t = time.perf_counter()
                    im = open_image(p, min_short_side=max(d.sizes))
                    tick("decode", t)
                    per = []
                    for k, det in enumerate(d.detectors):
                        if k and max((b["conf"] for b in per[0]), default=0.0) >= d.large_below:
                            break
                        t = time.perf_counter()
                        arr = det.letterbox(im)[0]
                        tick(f"letterbox {det.input_size}", t)
                        t = time.perf_counter()
                        meta = DetectMeta(im.width, im.height, content_size(im.width, im.height, det.input_size))
                        per += det.run([arr], [meta])
                        tick(f"YOLOX {det.input_size}", t)
                        counts["1280 pass"] += k == 1 and not warm
                    raw = fuse_passes(per, d.fusion_iou)
                    v = d.verifier
                    cands = [c for c in v.candidates(raw) if c["conf"] < d.trust_conf]
                    t = time.perf_counter()
                    batch = v.prepare(im, cands)
                    tick("verification: crops", t)
                    t = time.perf_counter()
                    v.class_probs(batch)
                    tick("verification: EfficientNet", t)
                    counts["crops"] += len(cands) * (not warm)
                    t = time.perf_counter()
                    blob = d.people.prepare(im)
                    tick("people: resize", t)
                    t = time.perf_counter()
                    d.people.run(blob)
                    tick("people: YOLOv3-tiny", t)
                    t = time.perf_counter()
                    item, meta = d.prepare(p)
                    animals = [x for x in d.run([item], [meta])[0] if x["conf"] >= 0.2 and x["category"] == ANIMAL]
                    tick("(whole detector, for comparison)", t)
                    t = time.perf_counter()
                    classifier.classify_boxes(im, animals)
                    tick("classification of animal boxes", t)
                    counts["animal boxes"] += len(animals) * (not warm)
                if warm:
                    T.clear()
            n = len(photos)
            print(f"\n{spec}: ms per photo, one thread, {n} photos 2048x1536; load average {load0[0]:.1f} before, "
                  f"{os.getloadavg()[0]:.1f} now (2 cores); " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
            parts = 0.0
            for key, sec in T.items():
                print(f"  {key:36s} {1000 * sec / n:7.1f}")
                parts += sec if not key.startswith("(") else 0.0
            print(f"  {'sum of the stages':36s} {1000 * parts / n:7.1f}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=30, help="2048x1536 photos (default 30)")
    ap.add_argument("--kit", default=os.environ.get("IRBIS_DATA_KIT", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--detectors", default=",".join(DETECTORS))
    ap.add_argument("--interleaved", action="store_true", help="time the detectors in turn, photo by photo")
    ap.add_argument("--pipelined", action="store_true",
                    help="time `irbis run`'s work in process (decode thread ahead, classification), in turn")
    ap.add_argument("--profile", action="store_true", help="ms per stage of each detector (one thread)")
    ap.add_argument("--threads", type=int, default=2, help="--pipelined: detector inference threads (default 2)")
    ap.add_argument("--chunk", type=int, default=8, help="--pipelined: photos per turn (default 8)")
    ap.add_argument("--model", help="--pipelined: a bundle (default: trained on the demo photos)")
    args = ap.parse_args()
    if args.interleaved:
        return interleaved(args)
    if args.pipelined:
        return pipelined(args)
    if args.profile:
        return profile(args)
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["IRBIS_HOME"] = str(tmp / "home")
        make_photos(Path(args.kit), tmp / "photos", args.n)
        rows = bench_irbis_run(tmp / "photos", tmp, args.detectors.split(","))
    base = dict((name, r) for name, _, r in rows)
    print(f"\n`irbis run` end to end, {args.n} photos 2048x1536; load average {load0[0]:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after (2 cores)")
    print(f"{'detector':28s} {'photos/s':>9s} {'w/o start-up':>13s} {'vs v1 default':>14s}")
    for name, whole, steady in rows:
        ref = base.get("megadetector-lite-v1")
        print(f"{name:28s} {whole:9.2f} {steady:13.2f} {steady / ref if ref else float('nan'):13.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
