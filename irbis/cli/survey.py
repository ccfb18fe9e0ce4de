"""``irbis detect`` and ``irbis run``: the main job, flags derived from :class:`irbis.options.RunOptions`."""

from __future__ import annotations

import argparse
import sys

from ..options import DecisionOptions, RunOptions, add_cli_options, from_cli
from . import add_catalog_and_quiet, listener
from .engine import PHOTOS_HELP, engine_from_args
from .parquet import add_parquet_arg, write_detections_parquet


class _DeprecatedModel(argparse.Action):
    """``irbis detect --model``: the old name of ``--detector``; still works, with a warning."""

    def __call__(self, parser, namespace, values, option_string=None):
        print("irbis detect: --model is deprecated, use --detector", file=sys.stderr)
        namespace.detector = values


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("photos_dir", help=PHOTOS_HELP)
    p.add_argument("--out", required=True, help="MegaDetector batch JSON (format 1.6) to write")
    add_catalog_and_quiet(p)
    add_parquet_arg(p, "the detections (one row per box)")


def add_parser(sub) -> None:
    p = sub.add_parser("detect", help="find animals, people and vehicles; write MegaDetector batch JSON")
    _common(p)
    add_cli_options(p, RunOptions, skip=("classify_threshold", "sequence_ensemble"))
    p.add_argument("--model", action=_DeprecatedModel, metavar="NAME|PATH", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("run", help="the main job: detect, classify every animal box, ensemble bursts, "
                                   "write MegaDetector batch JSON with classifications")
    _common(p)
    add_cli_options(p, RunOptions)
    add_cli_options(p.add_argument_group("species answers (calibration, thresholds, rollup, geofence)"),
                    DecisionOptions)
    p.add_argument("--classifier", "--model", dest="classifier", required=True, metavar="BUNDLE|imagenet-species",
                   help="model bundle from `irbis train` (its classes label the animal boxes), or imagenet-species: "
                        "zero-shot species from the backbone's ImageNet head, with taxonomic rollup")
    p.set_defaults(func=cmd_run)


def cmd_detect(args) -> int:
    from ..detection_run import run_survey
    options = from_cli(RunOptions, args)
    with engine_from_args(args) as engine:
        report = run_survey(args.photos_dir, args.out, None, options, args.catalog, listener(args), engine)
    print(report.summary())
    if args.parquet:
        print(write_detections_parquet(args))
    return 0


def cmd_run(args) -> int:
    from ..detection_run import run_survey
    options = from_cli(RunOptions, args, decision=from_cli(DecisionOptions, args))
    with engine_from_args(args) as engine:
        report = run_survey(args.photos_dir, args.out, args.classifier, options, args.catalog, listener(args), engine)
    print(report.summary())
    if args.parquet:
        print(write_detections_parquet(args))
    return 0
