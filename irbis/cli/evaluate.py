"""``irbis evaluate`` and ``irbis ablation`` ."""

from __future__ import annotations

import argparse
from pathlib import Path


def _pairs(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise argparse.ArgumentTypeError(f"--map expects FROM=TO, e.g. blank=empty, not {item!r}")
        a, b = item.split("=", 1)
        out[a.strip()] = b.strip()
    return out


def _names(items: list[str] | None) -> list[str]:
    return [s.strip() for item in items or [] for s in item.split(",") if s.strip()]


def add_parser(subparsers) -> None:
    """Add the ``evaluate`` and ``ablation`` sub-commands."""
    p = subparsers.add_parser(
        "evaluate", help="score predictions or detector output against ground truth; HTML report with plots",
        description="Score classifier predictions (irbis predict CSV), a Serengeti submission (seq_id + class "
                    "probabilities) or detector output (MegaDetector batch JSON) against ground truth: a labels "
                    "CSV (file,label), the kit's cameratrap/manifest.csv, COCO Camera Traps JSON or a Serengeti "
                    "labels CSV (seq_id + one-hot classes). Writes one self-contained HTML report, the metrics "
                    "as JSON and the plots as PNG files.")
    p.add_argument("predictions", help="predictions CSV, submission CSV or MegaDetector JSON")
    p.add_argument("--truth", required=True, help="ground truth file (format detected from its header)")
    p.add_argument("--truth-format", default="auto", choices=["auto", "labels", "manifest", "cct", "serengeti"])
    p.add_argument("--truth-column", help="label column of a CSV truth (default: label; kind for a manifest)")
    p.add_argument("--map", action="append", metavar="FROM=TO",
                   help="rename a truth label, e.g. blank=empty (repeatable)")
    p.add_argument("--drop-class", action="append", metavar="NAME[,NAME]",
                   help="leave out truth files with these labels, e.g. person,vehicle (repeatable)")
    p.add_argument("--empty-class", default="empty", help="the label of frames without animals (default: empty)")
    p.add_argument("--iou", type=float, default=0.5, help="IoU for a detection to match a box (default: 0.5)")
    p.add_argument("--threshold", type=float,
                   help="detector confidence threshold for the headline figures (default: the file's "
                        "typical_detection_threshold, else 0.2)")
    p.add_argument("--det-category", action="append", metavar="NAME",
                   help="detection categories scored against the boxes (default: animal)")
    p.add_argument("--data-label", help="what the frames are, printed on every plot and in the report "
                                        "(default: guessed: proxy data or real camera-trap frames)")
    p.add_argument("--out", help="HTML report (default: PREDICTIONS stem + '-report.html' beside it)")
    p.add_argument("--json", help="metrics JSON (default: the report's name with .metrics.json)")
    p.add_argument("--plots-dir", help="folder for the PNG plots (default: the report's name + '_plots')")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    add_ablation_parser(subparsers)


def add_ablation_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "ablation", help="the seed's ablation (raw pixels -> CNN features -> earlier cut -> + flip -> + "
                         "sequence ensembling) on proxy data",
        description="The seed's ablation re-measured on proxy camera-trap data: (1) raw 120x120 pixels, (2) "
                    "EfficientNet-Lite0 head features, (3) earlier cuts stage7 / stage6, (4) + flip augmentation, "
                    "(5) + sequence ensembling; logistic regression trained on the train cameras, scored on the "
                    "held-out cameras. Builds the proxy data first when DATA has no labels.csv.")
    p.add_argument("--data", required=True, help="irbis synth output folder (built here with --kit if missing)")
    p.add_argument("--kit", help="data kit for building the proxy data (default: $IRBIS_DATA_KIT)")
    p.add_argument("--seed", type=int, default=0, help="synth seed when building (default: 0)")
    p.add_argument("--task", default="binary", choices=["binary", "species"])
    p.add_argument("--split", default="camera", choices=["camera", "burst"],
                   help="camera: score on held-out cameras (default); burst: on held-out bursts of cameras "
                        "seen in training")
    p.add_argument("--cuts", default="stage7,stage6", help="earlier cuts to compare (default: stage7,stage6)")
    p.add_argument("--out", default="ablation-output", help="folder for table, JSON, ROC plot and HTML report")
    p.add_argument("--decode-threads", type=int, default=1)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_ablation)


def _cmd_ablation(args) -> int:
    from ..evaluate.ablation import cmd_ablation
    return cmd_ablation(args)


def cmd_evaluate(args) -> int:
    from ..evaluate.core import evaluate
    from ..evaluate.report import atomic_write, write_json
    ev = evaluate(args.predictions, args.truth, args.truth_format, args.truth_column, _pairs(args.map),
                  _names(args.drop_class), args.empty_class, args.iou, args.threshold, args.data_label,
                  tuple(_names(args.det_category)) or ("animal",))
    pred = Path(args.predictions)
    out = Path(args.out) if args.out else pred.with_name(pred.stem + "-report.html")
    json_path = Path(args.json) if args.json else out.with_name(out.stem + ".metrics.json")
    plots_dir = Path(args.plots_dir) if args.plots_dir else out.with_name(out.stem + "_plots")
    inputs = {Path(args.predictions).resolve(), Path(args.truth).resolve()}
    clash = [str(p) for p in (out, json_path) if p.resolve() in inputs]
    if clash:
        raise ValueError(f"output would overwrite an input: {', '.join(clash)}; choose --out / --json")
    for name, png in ev.figures.items():
        atomic_write(plots_dir / f"{name}.png", png)
    write_json(json_path, {"data": ev.data_label, **ev.metrics})
    atomic_write(out, ev.html())
    print(ev.summary())
    print(f"report: {out}\nmetrics: {json_path}\nplots: {plots_dir}/ ({len(ev.figures)} PNG)")
    return 0
