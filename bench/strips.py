"""Info strips on the kit's real frames: what is read (a table per folder) and how fast.

    python bench/strips.py                 # dev folders: table + speed (burst reuse on vs off)
    python bench/strips.py --holdout       # holdout/ and extra/animl_r_peru/: the table, once, at the end
    python bench/strips.py --speed-only

Table: photos, strip times read, strip time = EXIF time to the second (of photos with both; to the
minute for cameras that print no seconds), temperatures read, cameras named, failures.
Speed: the same burst folders read photo by photo with every frame read in full and with burst
reuse, side by side in one run; wall and CPU seconds per photo (the CPU is shared: load printed),
and whether reuse changed any answer. ``--baseline N`` also times RapidOCR's default settings on
the two bands of N frames (the ~2.4 s per frame measured elsewhere).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from irbis.ingest import scan_photos  # noqa: E402
from irbis.strips_run import folder_of, read_photos  # noqa: E402

DEV = ["dev/animl_BUOW", "dev/animl_Jaguar", "dev/camtrapdp_heron", "dev/megadetector_samples",
       "extra/camtrapR", "extra/ecoassist", "extra/microsoft_cameratraps", "extra/zamba_test_assets"]
HOLDOUT = ["holdout", "extra/animl_r_peru"]
BURSTS = ["dev/camtrapdp_heron", "extra/microsoft_cameratraps/serengeti_bursts", "dev/animl_BUOW"]
FIELDS = ["strip_datetime", "temperature_c", "camera", "burst_index", "burst_size"]


def kit_root() -> Path:
    for p in (os.environ.get("IRBIS_KIT"), "/work/shared/data", Path(__file__).resolve().parents[2] / "shared/data"):
        if p and (Path(p) / "cameratrap").is_dir():
            return Path(p) / "cameratrap"
    sys.exit("data kit not found: set IRBIS_KIT to the folder holding cameratrap/")


def files_of(root: Path, folders: list[str]) -> list[Path]:
    return [f for d in folders for f in scan_photos(root / d)]


def equal_exif(r: dict) -> bool | None:
    s, e = r.get("strip_datetime"), r.get("exif_datetime")
    if not s or not e:
        return None
    return s == e if len(s) == 19 else s == e[:16]


def table(rows: list[dict], depth: int = 2) -> str:
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault("/".join(r["file"].split("/")[:depth]), []).append(r)
    groups["all"] = rows
    out = ["| folder | photos | strip time read | strip = EXIF | temperature | camera named | no usable strip |",
           "|---|---|---|---|---|---|---|"]
    for name, rs in groups.items():
        both = [equal_exif(r) for r in rs if equal_exif(r) is not None]
        out.append(f"| {name} | {len(rs)} | {sum(bool(r.get('strip_datetime')) for r in rs)} | "
                   f"{sum(both)}/{len(both)} | {sum(r.get('temperature_c') is not None for r in rs)} | "
                   f"{sum(bool(r.get('camera')) for r in rs)} | {sum(bool(r.get('failure')) for r in rs)} |")
    return "\n".join(out)


def timed(files, root, reuse: bool):
    t0, c0 = time.perf_counter(), time.process_time()
    report = read_photos(files, root, folder_of, reuse=reuse, progress=False)
    return report, time.perf_counter() - t0, time.process_time() - c0


def baseline(files: list[Path], n: int) -> float:
    import numpy as np
    from rapidocr_onnxruntime import RapidOCR

    from irbis.imageio import open_image
    from irbis.stages.strip_ocr import band_rows
    ocr = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
    t0 = time.perf_counter()
    for f in files[:n]:
        a = np.asarray(open_image(f))[:, :, ::-1]
        rows = band_rows(a.shape[0])
        ocr(np.ascontiguousarray(a[:rows]), use_cls=False)
        ocr(np.ascontiguousarray(a[-rows:]), use_cls=False)
    return (time.perf_counter() - t0) / max(1, min(n, len(files)))


def mask_check(root: Path, rows: list[dict]) -> str:
    """MegadetectorLite (640, boxes >= 0.2) on frames whose strip was read, with and without the
    strip bars masked: boxes lying in the top or bottom 8 % of the frame (where strips are)."""
    from irbis.imageio import open_image
    from irbis.stages.detect import Detector
    from irbis.stages.strip_ocr import find_strip_bands
    plain, masked = Detector(threads=1), Detector(threads=1, mask_strips=True)
    n = bars = 0
    edge = {False: 0, True: 0}
    boxes = {False: 0, True: 0}
    for r in rows:
        if not r.get("strip_datetime"):
            continue
        im = open_image(root / r["file"], min_short_side=640)
        n += 1
        bars += any(find_strip_bands(im))
        for m, det in ((False, plain), (True, masked)):
            x, meta = det.prepare_image(im)
            found = [d for d in det.run(x[None], [meta])[0] if d["conf"] >= 0.2]
            boxes[m] += len(found)
            edge[m] += sum(d["bbox"][1] + d["bbox"][3] <= 0.08 or d["bbox"][1] >= 0.92 for d in found)
    return (f"strip masking: {n} frames with a strip read ({bars} with a solid bar found); boxes >= 0.2: "
            f"{boxes[False]} plain, {boxes[True]} masked; in the top/bottom 8 %: {edge[False]} plain, "
            f"{edge[True]} masked")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--holdout", action="store_true", help="the holdout table (run once, at the end)")
    ap.add_argument("--speed-only", action="store_true")
    ap.add_argument("--baseline", type=int, default=0, metavar="N",
                    help="also time RapidOCR's default settings on N burst frames")
    ap.add_argument("--csv", help="also write the table's rows as a strips CSV")
    ap.add_argument("--mask-check", metavar="CSV", help="only: detector boxes in the strip bands with and without "
                    "masking, on the frames of a strips CSV written by --csv")
    args = ap.parse_args()
    root = kit_root()
    if args.mask_check:
        import csv
        with open(args.mask_check, newline="", encoding="utf-8") as fh:
            print(mask_check(root, list(csv.DictReader(fh))))
        return 0
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores shared)")
    if not args.speed_only:
        folders = HOLDOUT if args.holdout else DEV
        files = files_of(root, folders)
        report, wall, cpu = timed(files, root, reuse=True)
        print(f"\n## {'holdout' if args.holdout else 'dev'}: {len(files)} photos from {', '.join(folders)}\n")
        print(table(report.rows))
        print(f"\n{report.summary()}\nwall {wall / len(files):.2f} s/photo, CPU {cpu / len(files):.2f} s/photo")
        if args.csv:
            from irbis.strips_run import write_rows
            write_rows(args.csv, report.rows)
    if args.holdout:
        return 0
    print(f"\n## speed: burst frames read photo by photo, 1 OCR thread; load average now {os.getloadavg()[0]:.2f}\n")
    print("| folder | photos | mode | full reads | cheap reads | wall s/photo | CPU s/photo | fields differ |")
    print("|---|---|---|---|---|---|---|---|")
    tot = {True: [0.0, 0.0], False: [0.0, 0.0]}
    n_all = 0
    for folder in BURSTS:
        files = files_of(root, [folder])
        n = len(files)
        n_all += n
        full, wall_f, cpu_f = timed(files, root, reuse=False)
        cheap, wall_c, cpu_c = timed(files, root, reuse=True)
        diff = sum(any(a.get(k) != b.get(k) for k in FIELDS) for a, b in zip(full.rows, cheap.rows, strict=True))
        for reuse, w, c in ((False, wall_f, cpu_f), (True, wall_c, cpu_c)):
            tot[reuse][0] += w
            tot[reuse][1] += c
        print(f"| {folder} | {n} | every frame in full | {full.full_reads} | 0 | {wall_f / n:.3f} | "
              f"{cpu_f / n:.3f} | |")
        print(f"| {folder} | {n} | burst reuse | {cheap.full_reads} | {cheap.cheap_reads} | {wall_c / n:.3f} | "
              f"{cpu_c / n:.3f} | {diff}/{n} |")
    wf, cf = tot[False]
    wc, cc = tot[True]
    print(f"\nall {n_all} frames: full {wf / n_all:.3f} s wall, {cf / n_all:.3f} s CPU per photo; burst reuse "
          f"{wc / n_all:.3f} s wall, {cc / n_all:.3f} s CPU per photo (reuse / full: wall x{wc / wf:.2f}, "
          f"CPU x{cc / cf:.2f})")
    files = files_of(root, BURSTS)
    n = n_all
    wall_c = wc
    if args.baseline:
        b = baseline(files, args.baseline)
        print(f"RapidOCR default settings (both bands, {args.baseline} frames): {b:.2f} s/photo wall, "
              f"x{b / (wall_c / n):.1f} the burst-reuse time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
