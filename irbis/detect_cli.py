"""``irbis detect`` and ``irbis run`` sub-commands."""

from __future__ import annotations

import argparse


def _common(p: argparse.ArgumentParser, detector_flag: str) -> None:
    p.add_argument("photos_dir")
    p.add_argument("--out", required=True, help="MegaDetector batch JSON (format 1.6) to write")
    p.add_argument(detector_flag, dest="detector", default="megadetector-lite", metavar="NAME|PATH",
                   help="detector: megadetector-lite (default, offline), megadetector-lite-fast, "
                        "megadetector-lite-raw, MDV5A, MDV5B, MDV1000-REDWOOD or a MegaDetector .pt file")
    p.add_argument("--threshold", type=float, default=0.2,
                   help="detection confidence kept in the output; photos without a box at or above it "
                        "count as empty (default: 0.2)")
    p.add_argument("--no-repeat-filter", action="store_true",
                   help="keep boxes that recur at the same place over days (rocks, stumps, posts)")
    p.add_argument("--repeat-iou", type=float, default=0.9, help="IoU that makes two boxes the same place")
    p.add_argument("--repeat-min-images", type=int, default=6,
                   help="images a place must recur in to be a repeat (default: 6)")
    p.add_argument("--repeat-min-hours", type=float, default=2.0,
                   help="time span a place must recur over to be a repeat (default: 2 h)")
    p.add_argument("--sequence-gap", type=float, default=60.0)
    p.add_argument("--catalog")
    p.add_argument("--runtime", default="auto", choices=["auto", "onnx", "torch"])
    p.add_argument("--decode-threads", type=int, default=1)
    p.add_argument("--threads", type=int, default=2,
                   help="detector inference threads (default: 2, both cores of a laptop; decoding "
                        "takes little of the second)")
    p.add_argument("--quiet", action="store_true")


def add_parser(sub) -> None:
    p = sub.add_parser("detect", help="find animals, people and vehicles; write MegaDetector batch JSON")
    _common(p, "--model")
    p.set_defaults(func=cmd_detect)
    p = sub.add_parser("run", help="the main job: detect, classify every animal box, ensemble bursts, "
                                   "write MegaDetector batch JSON with classifications")
    _common(p, "--detector")
    p.add_argument("--classifier", "--model", dest="classifier", required=True, metavar="BUNDLE|imagenet-species",
                   help="model bundle from `irbis train` (its classes label the animal boxes), or imagenet-species: "
                        "zero-shot species from the backbone's ImageNet head, with taxonomic rollup")
    p.add_argument("--classify-threshold", type=float,
                   help="classify animal boxes from this confidence (default: --threshold)")
    p.add_argument("--no-sequence-ensemble", action="store_true", help="classify each box on its own")
    p.set_defaults(func=cmd_run)


def _options(args):
    from .detection_run import RunOptions
    from .stages.repeat_detections import RepeatOptions
    repeats = None if args.no_repeat_filter else RepeatOptions(
        iou=args.repeat_iou, min_images=args.repeat_min_images, min_span_hours=args.repeat_min_hours)
    return RunOptions(detector=args.detector, threshold=args.threshold,
                      classify_threshold=getattr(args, "classify_threshold", None),
                      by_sequence=not getattr(args, "no_sequence_ensemble", False), repeats=repeats,
                      runtime=args.runtime, decode_threads=args.decode_threads, sequence_gap_s=args.sequence_gap,
                      threads=args.threads)


def cmd_detect(args) -> int:
    from .detection_run import run_survey
    report = run_survey(args.photos_dir, args.out, None, _options(args), args.catalog, progress=not args.quiet)
    print(report.summary())
    return 0


def cmd_run(args) -> int:
    from .detection_run import run_survey
    report = run_survey(args.photos_dir, args.out, args.classifier, _options(args), args.catalog, progress=not args.quiet)
    print(report.summary())
    return 0
