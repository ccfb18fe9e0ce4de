"""The ``irbis`` command: one entry point, one sub-command per job."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__

EXIT_USAGE = 2
# Modules that add their own sub-commands: each has add_parser(subparsers), which sets
# ``func`` with ``p.set_defaults(func=...)``; func(args) returns the exit code.
PLUGIN_COMMANDS: list[str] = ["irbis.synth.cli", "irbis.detect_cli", "irbis.evaluate.cli", "irbis.serengeti_cli",
                              "irbis.service.cli", "irbis.strips_cli", "irbis.privacy_cli"]


def _add_backbone_args(p: argparse.ArgumentParser, default_layer: str | None = "head") -> None:
    p.add_argument("--backbone", default="efficientnet-lite0",
                   help="registry name (efficientnet-lite0..4) or ARCH:PATH to a local weights file, "
                        "e.g. resnet50:~/models/resnet50.pth (default: %(default)s)")
    p.add_argument("--layer", default=default_layer,
                   help="feature cut: head (last stage, default) or an earlier one, e.g. stage6, stage7 "
                        "(EfficientNet-Lite) or layer3 (ResNet-50)")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", help="catalog SQLite file (default: one per photo folder under $IRBIS_HOME)")
    p.add_argument("--runtime", default="auto", choices=["auto", "onnx", "torch"],
                   help="inference runtime (default: ONNX Runtime when installed)")
    p.add_argument("--decode-threads", type=int, default=1, help="threads decoding photos (default: 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="irbis", description=__doc__)
    parser.add_argument("--version", action="version", version=f"irbis {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="catalogue a photo folder: EXIF, deployments, sequences")
    p.add_argument("photos_dir")
    p.add_argument("--catalog")
    p.add_argument("--sequence-gap", type=float, default=60.0,
                   help="seconds between frames that start a new sequence (default: 60)")
    p.add_argument("--clock-offset", action="append", metavar="DEPLOYMENT=SECONDS",
                   help="correct a camera's clock, e.g. CAM1=+3600 (repeatable)")
    p.add_argument("--deployments", metavar="CSV",
                   help="CSV mapping folder (or file) to deployment; optional latitude, longitude, clock_offset_s")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("featurize", help="compute and cache features for a folder (optional: train and "
                                         "predict do it themselves)")
    p.add_argument("photos_dir")
    p.add_argument("--flip", action="store_true", help="also featurize horizontally flipped copies")
    _add_backbone_args(p)
    _add_common(p)

    p = sub.add_parser("train", help="fit a logistic-regression model bundle from a labels CSV")
    p.add_argument("labels_csv", help="CSV with columns file,label (paths relative to the CSV); "
                                      "optional sequence, deployment")
    p.add_argument("--out", required=True, help="model bundle to write")
    p.add_argument("--no-flip", dest="flip", action="store_false",
                   help="no horizontal-flip augmentation (on by default)")
    p.add_argument("--C", type=float, help="fix the regularisation instead of cross-validating it")
    p.add_argument("--crops", nargs="?", const="megadetector-lite", metavar="DETECTOR",
                   help="learn from each photo's most confident animal box (as `irbis run` crops boxes) "
                        "instead of the whole photo; optional detector name (default: megadetector-lite)")
    _add_backbone_args(p)
    _add_common(p)

    p = sub.add_parser("predict", help="classify every photo of a folder with a model bundle")
    p.add_argument("model")
    p.add_argument("photos_dir")
    p.add_argument("--out", required=True, help="predictions CSV to write")
    p.add_argument("--by-sequence", action="store_true", help="add the per-sequence ensemble columns")
    p.add_argument("--sequence-gap", type=float, help="seconds that start a new sequence (default: 60)")
    p.add_argument("--backbone", help="local weights for the model's backbone (must be the same weights)")
    _add_common(p)

    p = sub.add_parser("demo", help="the whole pipeline on the real photos bundled with irbis")
    p.add_argument("--out", default="demo-output", help="folder for the model, predictions and HTML summary")
    p.add_argument("--data", help="demo photo folder (default: the bundled examples/demo)")
    p.add_argument("--quiet", action="store_true")
    import importlib
    for module in PLUGIN_COMMANDS:
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .imageio import ImageReadError  # noqa: F401  (import here keeps --help fast)
    from .ingest import IngestError
    from .labels import LabelsError
    from .models.registry import BackboneError
    try:
        func = getattr(args, "func", None) or COMMANDS[args.command]
        return func(args)
    except (IngestError, LabelsError, BackboneError, FileNotFoundError, ValueError) as exc:
        print(f"irbis {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted; finished work is cached and a re-run resumes", file=sys.stderr)
        return 130


def cmd_ingest(args) -> int:
    from .catalog import Catalog
    from .config import default_catalog_path
    from .ingest import ingest_folder, parse_clock_offsets
    offsets = parse_clock_offsets(args.clock_offset)
    with Catalog(args.catalog or default_catalog_path(args.photos_dir)) as catalog:
        report = ingest_folder(args.photos_dir, catalog, sequence_gap_s=args.sequence_gap,
                               clock_offsets=offsets, deployment_csv=args.deployments,
                               progress=not args.quiet)
    print(report.summary())
    for f, why in list(report.failures.items())[:20]:
        print(f"  unreadable: {f}: {why}")
    return 0


def cmd_featurize(args) -> int:
    from .catalog import Catalog
    from .config import default_catalog_path, feature_cache_path
    from .engines.local import featurize_records
    from .feature_cache import FeatureCache
    from .ingest import ingest_folder
    from .stages.featurize import Featurizer
    featurizer = Featurizer(args.backbone, layer=args.layer, runtime=args.runtime)
    with Catalog(args.catalog or default_catalog_path(args.photos_dir)) as catalog:
        ingest_folder(args.photos_dir, catalog, progress=not args.quiet)
        records = catalog.images(args.photos_dir)
    cache = FeatureCache(feature_cache_path())
    table = featurize_records(records, featurizer, cache, flips=(False, True) if args.flip else (False,),
                              progress=not args.quiet, decode_threads=args.decode_threads)
    cache.close()
    print(f"{len(records)} photos: {table.computed} featurized, {table.cached} from cache, "
          f"{len(table.failures)} failure(s); {featurizer.id} ({featurizer.dim}-d) in {feature_cache_path()}")
    by_id = {r.id: r.rel_path for r in records}
    for i, why in list(table.failures.items())[:20]:
        print(f"  {by_id[i]}: {why}")
    return 0


def cmd_train(args) -> int:
    from .train import train
    report = train(args.labels_csv, args.out, backbone=args.backbone, layer=args.layer, flip=args.flip,
                   catalog_path=args.catalog, runtime=args.runtime, progress=not args.quiet, C=args.C,
                   decode_threads=args.decode_threads, crops=args.crops)
    print(report.summary())
    return 0


def cmd_predict(args) -> int:
    from .predict import predict
    report = predict(args.model, args.photos_dir, args.out, by_sequence=args.by_sequence,
                     catalog_path=args.catalog, backbone=args.backbone, runtime=args.runtime,
                     progress=not args.quiet, sequence_gap_s=args.sequence_gap,
                     decode_threads=args.decode_threads)
    print(report.summary())
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo
    return run_demo(Path(args.out), Path(args.data) if args.data else None, progress=not args.quiet)


COMMANDS = {"ingest": cmd_ingest, "featurize": cmd_featurize, "train": cmd_train, "predict": cmd_predict,
            "demo": cmd_demo}

if __name__ == "__main__":
    sys.exit(main())
