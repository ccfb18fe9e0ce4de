"""Species options for ``irbis run``, ``irbis predict`` and ``irbis train`` (a CLI plug-in).

Registered in ``PLUGIN_COMMANDS`` after :mod:`irbis.serengeti_cli`, it extends the built-in parsers
and hands Serengeti invocations on unchanged:

    irbis run PHOTOS --classifier imagenet-species --out results.json [--allow-species CSV --country KG]
    irbis predict imagenet-species PHOTOS --out preds.csv
    irbis train labels.csv --out m.irbis --target-precision 0.95 [--taxonomy taxonomy.csv]
    irbis predict m.irbis PHOTOS --out preds.csv --threshold-mode off
"""

from __future__ import annotations

from .decision import THRESHOLD_MODES


def _decision_args(p) -> None:
    g = p.add_argument_group("species answers (calibration, thresholds, rollup, geofence)")
    g.add_argument("--threshold-mode", choices=THRESHOLD_MODES, default="per-class",
                   help="per-class (default): calibrated probabilities, the bundle's per-class thresholds, below "
                        "them the rollup or 'unknown'; calibrated: calibrated top class; off: raw top class")
    g.add_argument("--min-confidence", type=float, metavar="P",
                   help="one threshold for every class instead of the bundle's (imagenet-species: 0.5)")
    g.add_argument("--allow-species", metavar="CSV",
                   help="allow-list: species,[deployment],[country] rows; other species are suppressed and the "
                        "rest renormalised (a class, common or scientific name, or a taxon such as Felidae)")
    g.add_argument("--country", metavar="CODE", help="country code selecting the allow-list's country rows")


def _decision(args):
    from .decision import DecisionOptions
    return DecisionOptions(threshold_mode=args.threshold_mode, allow_species=args.allow_species,
                           country=args.country, min_confidence=args.min_confidence)


def add_parser(subparsers) -> None:
    for name, func in (("run", cmd_run), ("predict", cmd_predict)):
        p = subparsers.choices.get(name)
        if p is not None:
            _decision_args(p)
            p.set_defaults(func=func)
    train = subparsers.choices.get("train")
    if train is not None:
        g = train.add_argument_group("trust (calibration and per-class thresholds)")
        g.add_argument("--target-precision", type=float, default=0.95,
                       help="per-class thresholds are chosen by cross-validation to reach this precision; "
                            "below them `irbis predict` / `irbis run` answer 'unknown' (default: 0.95)")
        g.add_argument("--taxonomy", metavar="CSV",
                       help="label,taxonomy (class;order;family;genus;species) per class: unsure answers roll up "
                            "to the common genus / family / order instead of 'unknown'")
        train.set_defaults(func=cmd_train)


def cmd_run(args) -> int:
    from dataclasses import replace

    from .detect_cli import _options
    from .detection_run import run_survey
    options = replace(_options(args), decision=_decision(args))
    report = run_survey(args.photos_dir, args.out, args.classifier, options, args.catalog, progress=not args.quiet)
    print(report.summary())
    return 0


def cmd_predict(args) -> int:
    if getattr(args, "serengeti_metadata", None) or getattr(args, "submission", None):
        from .serengeti_cli import cmd_predict as serengeti_predict
        return serengeti_predict(args)
    from .predict import predict
    report = predict(args.model, args.photos_dir, args.out, by_sequence=args.by_sequence,
                     catalog_path=args.catalog, backbone=args.backbone, runtime=args.runtime,
                     progress=not args.quiet, sequence_gap_s=args.sequence_gap,
                     decode_threads=args.decode_threads, decision=_decision(args))
    print(report.summary())
    return 0


def cmd_train(args) -> int:
    if getattr(args, "serengeti_metadata", None):
        from .serengeti_cli import cmd_train as serengeti_train
        return serengeti_train(args)
    if not 0.0 < args.target_precision <= 1.0:
        raise ValueError(f"--target-precision {args.target_precision} is not in (0, 1]")
    from .train import train
    report = train(args.labels_csv, args.out, backbone=args.backbone, layer=args.layer, flip=args.flip,
                   catalog_path=args.catalog, runtime=args.runtime, progress=not args.quiet, C=args.C,
                   decode_threads=args.decode_threads, crops=args.crops, target_precision=args.target_precision,
                   taxonomy=args.taxonomy)
    from .calibration import trust_summary
    print(report.summary())
    print(trust_summary(report.metrics.get("trust", {})))
    return 0
