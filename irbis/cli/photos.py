"""``irbis ingest | featurize | train | predict | demo``: catalogue, features, classifiers."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..ingest import DEFAULT_SEQUENCE_GAP_S
from . import listener
from .engine import add_engine_args, engine_from_args
from .parquet import add_parquet_arg, write_features_parquet


def _backbone_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backbone", default="efficientnet-lite0",
                   help="registry name (efficientnet-lite0..4) or ARCH:PATH to a local weights file, "
                        "e.g. resnet50:~/models/resnet50.pth (default: %(default)s)")
    p.add_argument("--layer", default="head",
                   help="feature cut: head (last stage, default) or an earlier one, e.g. stage6, stage7 "
                        "(EfficientNet-Lite) or layer3 (ResNet-50)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", help="catalog SQLite file (default: one per photo folder under $IRBIS_HOME)")
    p.add_argument("--runtime", default="auto", choices=["auto", "onnx", "torch"],
                   help="inference runtime (default: ONNX Runtime when installed)")
    p.add_argument("--decode-threads", type=int, default=1, help="threads decoding photos (default: 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_engine_args(p)


def add_parser(sub) -> None:
    p = sub.add_parser("ingest", help="catalogue a photo folder: EXIF, deployments, sequences")
    p.add_argument("photos_dir")
    p.add_argument("--catalog")
    p.add_argument("--sequence-gap", type=float, default=DEFAULT_SEQUENCE_GAP_S,
                   help="seconds between frames that start a new sequence (default: %(default)s)")
    p.add_argument("--clock-offset", action="append", metavar="DEPLOYMENT=SECONDS",
                   help="correct a camera's clock, e.g. CAM1=+3600 (repeatable)")
    p.add_argument("--deployments", metavar="CSV",
                   help="CSV mapping folder (or file) to deployment; optional latitude, longitude, clock_offset_s")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("featurize", help="compute and cache features for a folder (optional: train and "
                                         "predict do it themselves)")
    p.add_argument("photos_dir")
    p.add_argument("--flip", action="store_true", help="also featurize horizontally flipped copies")
    add_parquet_arg(p, "the features")
    _backbone_args(p)
    _common(p)
    p.set_defaults(func=cmd_featurize)

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
    _backbone_args(p)
    _common(p)
    g = p.add_argument_group("Serengeti / multilabel")
    g.add_argument("--serengeti-metadata", metavar="CSV",
                   help="photos of a sequence labels CSV: file_name,seq_id[,datetime][,location]; LABELS_CSV "
                        "is then seq_id + one 0/1 column per class and a multilabel model is trained")
    g.add_argument("--images", metavar="DIR",
                   help="folder the metadata's file names are relative to (default: the metadata's folder)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="classify every photo of a folder with a model bundle")
    p.add_argument("model")
    p.add_argument("photos_dir")
    p.add_argument("--out", required=True, help="predictions CSV to write")
    p.add_argument("--by-sequence", action="store_true", help="add the per-sequence ensemble columns")
    p.add_argument("--sequence-gap", type=float, help="seconds that start a new sequence (default: 60)")
    p.add_argument("--backbone", help="local weights for the model's backbone (must be the same weights)")
    _common(p)
    g = p.add_argument_group("Serengeti")
    g.add_argument("--serengeti-metadata", metavar="CSV",
                   help="classify exactly these photos (file_name relative to PHOTOS_DIR) and use their seq_id "
                        "as sequences")
    g.add_argument("--submission", metavar="CSV",
                   help="also write seq_id + one probability per class (burst ensemble), one row per sequence "
                        "in the metadata's order (needs --serengeti-metadata)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("demo", help="the whole pipeline on the real photos bundled with irbis")
    p.add_argument("--out", default="demo-output", help="folder for the model, predictions and HTML summary")
    p.add_argument("--data", help="demo photo folder (default: the bundled examples/demo)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)


def cmd_ingest(args) -> int:
    from ..catalog import Catalog
    from ..config import default_catalog_path
    from ..ingest import ingest_folder, parse_clock_offsets
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
    from ..config import feature_cache_path
    from ..features import compute_features
    from ..predict import folder_records
    from ..stages.featurize import FeaturizeSpec
    stage = FeaturizeSpec(args.backbone, args.layer, args.runtime, 1, (False, True) if args.flip else (False,)).build()
    with engine_from_args(args) as engine:
        records = folder_records(args.photos_dir, args.catalog, progress=not args.quiet)
        table = compute_features(records, stage, engine, listener(args))
    featurizer = stage.featurizer
    print(f"{len(records)} photos: {table.computed} featurized, {table.cached} from cache, "
          f"{len(table.failures)} failure(s); {featurizer.id} ({featurizer.dim}-d) in {feature_cache_path()}")
    by_id = {r.id: r.rel_path for r in records}
    for i, why in list(table.failures.items())[:20]:
        print(f"  {by_id[i]}: {why}")
    if args.parquet:
        print(write_features_parquet(args.parquet, records, table, stage))
    return 0


def cmd_train(args) -> int:
    with engine_from_args(args) as engine:
        common = dict(backbone=args.backbone, layer=args.layer, flip=args.flip, catalog_path=args.catalog,
                      runtime=args.runtime, listener=listener(args), C=args.C, engine=engine)
        if args.serengeti_metadata:
            from ..multilabel import train_multilabel
            report = train_multilabel(args.labels_csv, args.serengeti_metadata, args.out, images_root=args.images,
                                      **common)
        else:
            from ..train import train
            report = train(args.labels_csv, args.out, crops=args.crops, **common)
    print(report.summary())
    return 0


def cmd_predict(args) -> int:
    if args.submission and not args.serengeti_metadata:
        raise ValueError("--submission needs --serengeti-metadata (the sequences and their order)")
    with engine_from_args(args) as engine:
        common = dict(by_sequence=args.by_sequence, catalog_path=args.catalog, backbone=args.backbone,
                      runtime=args.runtime, listener=listener(args), engine=engine)
        if args.serengeti_metadata:
            from ..multilabel import predict_serengeti
            report = predict_serengeti(args.model, args.photos_dir, args.out, args.serengeti_metadata,
                                       args.submission, **common)
        else:
            from ..predict import predict
            report = predict(args.model, args.photos_dir, args.out, sequence_gap_s=args.sequence_gap, **common)
    print(report.summary())
    return 0


def cmd_demo(args) -> int:
    from ..demo import run_demo
    return run_demo(Path(args.out), Path(args.data) if args.data else None, listener=listener(args))
