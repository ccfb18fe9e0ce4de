"""`irbis run` end to end, detector v1 against v2, side by side on the same photos.

    .venv/bin/python bench/detect_v2_speed.py [--n 30] [--kit ../shared/data]

The photos and the command are bench/detect.py's end-to-end rows (real trap frames re-encoded
at 2048x1536; ``irbis run`` with a bundle trained on the demo photos, ``--threads 2``): per
detector photos/s of the whole command and without its start-up (a 1-photo run subtracted).
Rows are measured one after the other in one run; the load average is printed. On a shared
machine whose load changes over minutes that still skews ratios, so ``--interleaved`` times the
detectors in one process photo by photo, in turn (decode + detect + verify + side detector, no
classification, no start-up): the ratios then share the same load.
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


def interleaved(args) -> int:
    import time

    from irbis.stages.detectors import resolve_detector
    names = args.detectors.split(",")
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp_name:
        os.environ["IRBIS_HOME"] = str(Path(tmp_name) / "home")
        photos = make_photos(Path(args.kit), Path(tmp_name) / "photos", args.n)
        detectors = {n: resolve_detector(n, threads=1) for n in names}
        for d in detectors.values():
            d.run(*[[x] for x in d.prepare(photos[0])])  # export ONNX graphs, load weights
        seconds = dict.fromkeys(names, 0.0)
        for p in photos:
            for n, d in detectors.items():
                t = time.perf_counter()
                item, meta = d.prepare(p)
                d.run([item], [meta])
                seconds[n] += time.perf_counter() - t
    print(f"\ndetectors in turn, photo by photo, one thread, {args.n} photos 2048x1536; load average "
          f"{load0[0]:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores)")
    print(f"{'detector':28s} {'s/photo':>8s} {'photos/s':>9s} {'vs ' + names[0]:>28s}")
    for n in names:
        print(f"{n:28s} {seconds[n] / args.n:8.2f} {args.n / seconds[n]:9.2f} {seconds[names[0]] / seconds[n]:27.2f}x")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=30, help="2048x1536 photos (default 30)")
    ap.add_argument("--kit", default=os.environ.get("IRBIS_DATA_KIT", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--detectors", default=",".join(DETECTORS))
    ap.add_argument("--interleaved", action="store_true", help="time the detectors in turn, photo by photo")
    args = ap.parse_args()
    if args.interleaved:
        return interleaved(args)
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
