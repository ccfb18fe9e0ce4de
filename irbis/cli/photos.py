"""``irbis ingest | featurize | train | predict | demo``: catalogue, features, classifiers."""

from __future__ import annotations

from pathlib import Path

from ..ingest import DEFAULT_SEQUENCE_GAP_S
from ..options import DecisionOptions, PredictOptions, TrainOptions, add_cli_options, from_cli
from . import add_catalog_and_quiet, listener
from .engine import PHOTOS_HELP, add_engine_args, engine_from_args
from .exchange import add_exchange_options, ingest_exchange, train_exchange
from .parquet import add_parquet_arg, write_features_parquet
from .strips import add_read_strips_options, check_ocr, read_strips_after_ingest


def add_parser(sub) -> None:
    p = sub.add_parser("ingest", help="catalogue a photo folder: EXIF, deployments, sequences")
    p.add_argument("photos_dir", nargs="?", help="the photo folder (optional with --camtrap-dp / --coco-ct)")
    p.add_argument("--catalog")
    p.add_argument("--sequence-gap", type=float, default=DEFAULT_SEQUENCE_GAP_S,
                   help="seconds between frames that start a new sequence (default: %(default)s)")
    p.add_argument("--clock-offset", action="append", metavar="DEPLOYMENT=SECONDS",
                   help="correct a camera's clock, e.g. CAM1=+3600 (repeatable)")
    p.add_argument("--deployments", metavar="CSV",
                   help="CSV mapping folder (or file) to deployment; optional latitude, longitude, clock_offset_s")
    p.add_argument("--quiet", action="store_true")
    add_exchange_options(p, ingest=True)
    add_read_strips_options(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("featurize", help="compute and cache features for a folder (optional: train and "
                                         "predict do it themselves)")
    p.add_argument("photos_dir", help=PHOTOS_HELP)
    p.add_argument("--flip", action="store_true", help="also featurize horizontally flipped copies")
    add_parquet_arg(p, "the features")
    add_cli_options(p, TrainOptions, skip=("flip", "C", "target_precision", "taxonomy", "trainer"))
    add_catalog_and_quiet(p)
    add_engine_args(p)
    p.set_defaults(func=cmd_featurize)

    p = sub.add_parser("train", help="fit a logistic-regression model bundle from a labels CSV")
    p.add_argument("labels_csv", nargs="?", help="CSV with columns file,label (paths relative to the CSV); "
                                                 "optional sequence, deployment (or --camtrap-dp / --coco-ct)")
    p.add_argument("--out", required=True, help="model bundle to write")
    p.add_argument("--crops", nargs="?", const="megadetector-lite", metavar="DETECTOR",
                   help="learn from each photo's most confident animal box (as `irbis run` crops boxes) "
                        "instead of the whole photo; optional detector name (default: megadetector-lite)")
    add_cli_options(p, TrainOptions)
    add_catalog_and_quiet(p)
    add_engine_args(p)
    g = p.add_argument_group("Serengeti / multilabel")
    g.add_argument("--serengeti-metadata", metavar="CSV",
                   help="photos of a sequence labels CSV: file_name,seq_id[,datetime][,location]; LABELS_CSV "
                        "is then seq_id + one 0/1 column per class and a multilabel model is trained")
    g.add_argument("--images", metavar="DIR",
                   help="folder the metadata's file names (or a --camtrap-dp / --coco-ct file's media) are "
                        "relative to (default: the metadata's / package's folder)")
    add_exchange_options(p, ingest=False)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="classify every photo of a folder with a model bundle (or imagenet-species)")
    p.add_argument("model", help="model bundle from `irbis train`, or imagenet-species (zero-shot species from the "
                                 "backbone's ImageNet head, with taxonomic rollup)")
    p.add_argument("photos_dir", help=PHOTOS_HELP)
    p.add_argument("--out", required=True, help="predictions CSV to write")
    add_cli_options(p, PredictOptions)
    add_cli_options(p.add_argument_group("species answers (calibration, thresholds, rollup, geofence)"),
                    DecisionOptions)
    add_catalog_and_quiet(p)
    add_engine_args(p)
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
    p.add_argument("--blur-people", action="store_true",
                   help="blur person boxes (plus a margin) in the HTML summary's thumbnails")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)


def cmd_ingest(args) -> int:
    if args.camtrap_dp or args.coco_ct:
        return ingest_exchange(args)
    if not args.photos_dir:
        raise ValueError("give PHOTOS_DIR (or --camtrap-dp PACKAGE / --coco-ct FILE)")
    code = check_ocr() if args.read_strips else 0
    if code:
        return code
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
    return read_strips_after_ingest(args) if args.read_strips else 0


def cmd_featurize(args) -> int:
    from ..config import feature_cache_path
    from ..features import compute_features
    from ..predict import folder_records
    from ..stages.featurize import FeaturizeSpec
    stage = FeaturizeSpec(args.backbone, args.layer, args.runtime, 1, (False, True) if args.flip else (False,)).build()
    with engine_from_args(args) as engine:
        records = folder_records(args.photos_dir, args.catalog, progress=not args.quiet, engine=engine)
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
    o = from_cli(TrainOptions, args)
    with engine_from_args(args) as engine:
        if args.camtrap_dp or args.coco_ct:
            return train_exchange(args, o, listener(args), engine)
        if not args.labels_csv:
            raise ValueError("give LABELS_CSV (or --camtrap-dp PACKAGE / --coco-ct FILE)")
        common = dict(backbone=o.backbone, layer=o.layer, flip=o.flip, catalog_path=args.catalog,
                      runtime=o.runtime, listener=listener(args), C=o.C, engine=engine)
        if args.serengeti_metadata:
            if o.trainer != "sklearn":
                raise ValueError("--trainer spark trains single-label models (binary, multiclass), not the "
                                 "Serengeti multilabel one")
            from ..multilabel import train_multilabel
            report = train_multilabel(args.labels_csv, args.serengeti_metadata, args.out, images_root=args.images,
                                      **common)
        else:
            from ..train import train
            report = train(args.labels_csv, args.out, crops=args.crops, target_precision=o.target_precision,
                           taxonomy=o.taxonomy, trainer=o.trainer, spark_master=args.spark_master, **common)
            from ..calibration import trust_summary
            print(report.summary())
            print(trust_summary(report.metrics.get("trust", {})))
            return 0
    print(report.summary())
    return 0


def cmd_predict(args) -> int:
    o = from_cli(PredictOptions, args)
    if args.submission and not args.serengeti_metadata:
        raise ValueError("--submission needs --serengeti-metadata (the sequences and their order)")
    with engine_from_args(args) as engine:
        common = dict(by_sequence=o.by_sequence, catalog_path=args.catalog, backbone=o.backbone, runtime=o.runtime,
                      listener=listener(args), engine=engine, decision=from_cli(DecisionOptions, args))
        if args.serengeti_metadata:
            from ..multilabel import predict_serengeti
            report = predict_serengeti(args.model, args.photos_dir, args.out, args.serengeti_metadata,
                                       args.submission, **common)
        else:
            from ..predict import predict
            report = predict(args.model, args.photos_dir, args.out, sequence_gap=o.sequence_gap, **common)
    print(report.summary())
    return 0


def cmd_demo(args) -> int:
    from ..demo import run_demo
    return run_demo(Path(args.out), Path(args.data) if args.data else None, listener=listener(args),
                    blur_people=args.blur_people)
