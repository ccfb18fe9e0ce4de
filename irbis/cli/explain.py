"""``irbis explain`` sub-command (a CLI plug-in)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    from ..stages.explain import LimeOptions
    from .engine import add_engine_args
    d = LimeOptions()
    p = sub.add_parser(
        "explain", help="LIME: which superpixels made a model bundle say its class; heatmaps and boxes",
        description="Explain a model bundle's class probabilities with LIME on SLIC superpixels. Writes "
                    "<photo stem>.json (weights, r2, class, bbox) and <photo stem>.png (heatmap overlay) per "
                    "photo. With --boxes, explains the square crop `irbis run` classified for each animal box "
                    "and reports the IoU between the LIME box and the detector box.")
    p.add_argument("model", help="model bundle from `irbis train`")
    p.add_argument("photos", nargs="+", metavar="PHOTO_OR_DIR", help="photos, or folders of photos")
    p.add_argument("--out", required=True, help="folder for the JSON records and heatmaps")
    p.add_argument("--samples", type=int, default=d.samples,
                   help="masked copies scored per photo or box (default: %(default)s)")
    p.add_argument("--segments", type=int, default=d.segments,
                   help="SLIC superpixels on the network-size input (default: %(default)s)")
    p.add_argument("--keep", type=float, default=d.keep,
                   help="probability a superpixel stays on in a sample (default: %(default)s)")
    p.add_argument("--kernel-width", type=float, default=d.kernel_width,
                   help="exponential kernel width on the share of superpixels switched off (default: %(default)s)")
    p.add_argument("--box-fraction", type=float, default=d.box_fraction,
                   help="the box surrounds superpixels weighing at least this share of the top one "
                        "(default: %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed: same seed, same explanation")
    p.add_argument("--class", dest="class_name", metavar="NAME",
                   help="class to explain (default: the class the model predicts for each photo or box)")
    p.add_argument("--boxes", metavar="MD.json",
                   help="MegaDetector results (e.g. from `irbis run`): explain each animal box's classifier "
                        "crop instead of the whole frame, and compare the LIME box with it")
    p.add_argument("--box-threshold", type=float, default=0.2,
                   help="with --boxes: animal boxes at or above this confidence are explained (default: 0.2)")
    p.add_argument("--review-iou", type=float, default=0.5,
                   help="with --boxes: a box whose LIME box overlaps it less is marked needs_review "
                        "(default: 0.5)")
    p.add_argument("--merge", metavar="MD.json",
                   help="add the LIME boxes to this MegaDetector results file as animal detections flagged "
                        "\"lime\": true (rewritten atomically; earlier LIME boxes replaced)")
    p.add_argument("--no-heatmaps", action="store_true", help="JSON records only")
    p.add_argument("--blur-people", action="store_true",
                   help="blur the people the person detector finds in the heatmaps (privacy)")
    p.add_argument("--view", choices=["centre", "full"], default="centre",
                   help="whole frames: centre = what `irbis predict` sees (centre crop of the short-side resize; "
                        "evidence near the long sides is cut off), full = the whole frame padded square with grey "
                        "(nothing cut off, animals smaller) (default: %(default)s)")
    p.add_argument("--runtime", default="auto", choices=["auto", "onnx", "torch"])
    add_engine_args(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_explain)
    return p


def cmd_explain(args) -> int:
    from ..explain_run import explain_photos
    from ..stages.explain import LimeOptions
    options = LimeOptions(samples=args.samples, segments=args.segments, keep=args.keep,
                          kernel_width=args.kernel_width, box_fraction=args.box_fraction, seed=args.seed)
    from . import listener
    from .engine import engine_from_args
    with engine_from_args(args) as engine:
        report = explain_photos(args.model, args.photos, args.out, options, class_name=args.class_name,
                                boxes=args.boxes, box_threshold=args.box_threshold, review_iou=args.review_iou,
                                merge=args.merge, runtime=args.runtime, progress=not args.quiet,
                                heatmaps=not args.no_heatmaps, blur_people=args.blur_people, view=args.view,
                                engine=engine, listener=listener(args))
    print(report.summary())
    return 0
