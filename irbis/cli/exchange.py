"""Exchange formats on the command line.

    irbis export RESULTS.json --camtrap-dp DIR [--catalog F] [--deployments CSV] [--taxonomy CSV] [--timezone TZ]
    irbis export RESULTS.json --coco-ct OUT.json [--catalog F]
    irbis events RESULTS.json --interval 30m --out events.csv [--sites-out sites.csv]
    irbis ingest --camtrap-dp PACKAGE [PHOTOS_DIR] [--labels-out labels.csv]
    irbis ingest --coco-ct cct.json [PHOTOS_DIR] [--labels-out labels.csv]
    irbis train --camtrap-dp PACKAGE --out model.irbis      (or --coco-ct cct.json)
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def _results_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", metavar="RESULTS.json", help="MegaDetector batch JSON from irbis detect / run")
    p.add_argument("--catalog", help="catalog of the photos (default: the catalog of --photos, else the one "
                                     "under $IRBIS_HOME holding these photos)")
    p.add_argument("--photos", metavar="DIR", help="the photo folder the results were made from")
    p.add_argument("--taxonomy", metavar="CSV", help="class -> taxon map: class,scientificName[,taxonID,taxonRank,"
                                                     "vernacularName,observationType]")
    p.add_argument("--quiet", action="store_true")


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write results as a Camtrap DP 1.0.2 package or COCO Camera Traps JSON")
    _results_args(p)
    p.add_argument("--camtrap-dp", metavar="DIR", help="Camtrap DP package folder to write (atomically)")
    p.add_argument("--coco-ct", metavar="JSON", help="COCO Camera Traps file to write")
    p.add_argument("--deployments", metavar="CSV", help="deployment facts: deployment,latitude,longitude and any "
                                                        "Camtrap DP deployment column, optional timezone")
    p.add_argument("--timezone", default="UTC", help="zone of the camera clocks: UTC (default), +02:00 or a name "
                                                     "like Europe/Brussels")
    p.add_argument("--title", default="irbis camera-trap survey", help="package and project title")
    p.add_argument("--sampling-design", default="opportunistic",
                   help="simpleRandom, systematicRandom, clusteredRandom, experimental, targeted, opportunistic")
    p.add_argument("--capture-method", default="activityDetection", choices=["activityDetection", "timeLapse"])
    p.add_argument("--contributor", action="append", metavar="NAME", help="package contributor (repeatable)")
    p.add_argument("--no-validate", action="store_true",
                   help="skip checking the package against the Camtrap DP schemas before it is moved into place "
                        "(about 8x faster on large surveys)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("events", help="independent detections per species and site, and RAI per 100 trap-nights")
    _results_args(p)
    p.add_argument("--interval", default="30m", help="gap that separates independent events: 30m (default), 1h, 90s")
    p.add_argument("--out", required=True, help="events CSV to write")
    p.add_argument("--sites-out", help="per-site summary CSV (default: OUT with -sites before .csv)")
    p.add_argument("--threshold", type=float, help="ignore boxes below this (default: the file's typical threshold)")
    p.add_argument("--from-first", action="store_true",
                   help="measure the interval from the event's first photo (camtrapR lastIndependentRecord) instead "
                        "of its last photo")
    p.add_argument("--deployments", metavar="CSV", help="deploymentStart / deploymentEnd per deployment for "
                                                        "trap-nights (default: first to last photo)")
    p.set_defaults(func=cmd_events)



def add_exchange_options(parser, ingest: bool) -> None:
    """``irbis ingest`` / ``irbis train`` read a Camtrap DP package or a COCO Camera Traps file."""
    g = parser.add_argument_group("exchange formats")
    g.add_argument("--camtrap-dp", metavar="PACKAGE", help="a Camtrap DP 1.0.2 package folder: deployments with "
                                                           "coordinates, media timestamps, observations as labels")
    g.add_argument("--coco-ct", metavar="JSON", help="a COCO Camera Traps file: location, datetime, categories")
    g.add_argument("--machine-labels", action="store_true",
                   help="also use observations classified by machine as labels (default: people's only)")
    if ingest:
        g.add_argument("--labels-out", metavar="CSV", help="write the labels as file,label,sequence,deployment")


def _survey(args):
    from ..config import default_catalog_path
    from ..formats.survey import load_survey
    catalog = args.catalog or (default_catalog_path(args.photos) if args.photos else None)
    return load_survey(args.results, catalog)


def _strip_facts(catalog_path: str) -> dict[str, dict]:
    """What `irbis ingest --read-strips` read, per photo path: temperature and printed time."""
    from ..catalog import Catalog
    from ..strips_catalog import strip_rows
    with Catalog(catalog_path) as catalog:
        rows = strip_rows(catalog)
    return {path: {k: r[k] for k in ("temperature_c", "strip_datetime") if r.get(k) is not None}
            for path, r in rows.items()}


def cmd_export(args) -> int:
    from ..formats.taxa import read_taxonomy
    if not args.camtrap_dp and not args.coco_ct:
        raise ValueError("give --camtrap-dp DIR and/or --coco-ct FILE")
    survey = _survey(args)
    taxa = read_taxonomy(args.taxonomy)
    if args.camtrap_dp:
        from ..formats.camtrap_dp import ExportOptions, export_camtrap_dp
        options = ExportOptions(timezone=args.timezone, deployments_csv=args.deployments, taxa=taxa,
                                title=args.title, project_title=args.title, sampling_design=args.sampling_design,
                                capture_method=args.capture_method, contributors=args.contributor or [],
                                progress=not args.quiet, media_facts=_strip_facts(survey.catalog_path))
        try:
            report = export_camtrap_dp(survey, args.camtrap_dp, options, validate=not args.no_validate)
        except FileExistsError as exc:
            raise ValueError(str(exc)) from exc
        print(report.summary())
    if args.coco_ct:
        from ..formats.coco_ct import survey_to_cct, write_cct
        data = survey_to_cct(survey, taxa)
        write_cct(args.coco_ct, data)
        print(f"COCO Camera Traps {args.coco_ct}: {len(data['images'])} images, {len(data['annotations'])} "
              f"annotations, {len(data['categories'])} categories")
    return 0


def cmd_events(args) -> int:
    from ..catalog import Catalog
    from ..events import independent_events, parse_interval, write_events_csv, write_sites_csv
    from ..formats.camtrap_dp import read_deployment_facts
    from ..formats.taxa import read_taxonomy
    survey = _survey(args)
    facts = read_deployment_facts(args.deployments)
    periods = {d: (f["deploymentStart"], f["deploymentEnd"]) for d, f in facts.items()
               if f.get("deploymentStart") and f.get("deploymentEnd")}
    with Catalog(survey.catalog_path) as cat:
        records = cat.images()
    table = independent_events(survey.results, records, parse_interval(args.interval), args.threshold,
                               read_taxonomy(args.taxonomy), "first" if args.from_first else "last", periods or None)
    out = Path(args.out)
    sites_out = Path(args.sites_out) if args.sites_out else out.with_name(out.stem + "-sites.csv")
    write_events_csv(table, out)
    write_sites_csv(table, sites_out)
    print(f"{len(table.events)} independent events (interval {table.interval_s:.0f} s) at {len(table.sites)} sites"
          + (f"; {table.untimed_photos} photo(s) without a time left out" if table.untimed_photos else ""))
    print(f"  {'site':<24} {'trap-nights':>11} {'photos':>7} {'detections':>10} {'RAI/100':>8}")
    for s in table.sites:
        rai = "" if s.rai is None else f"{s.rai:.2f}"
        print(f"  {s.site:<24} {s.trap_nights:>11.2f} {s.photos:>7d} {s.detections:>10d} {rai:>8}")
    print(f"events written to {out}, per-site summary to {sites_out}")
    return 0


def _read_exchange(args, catalog):
    """Catalogue the package / CCT file; returns (ingest report, labels)."""
    methods = ("human", "machine") if args.machine_labels else ("human",)
    images_dir = getattr(args, "photos_dir", None) or getattr(args, "images", None)
    if args.camtrap_dp:
        from ..ingest.camtrap_dp import ingest_package, locate_media, package_labels, read_package
        try:
            package = read_package(args.camtrap_dp)
        except ImportError as exc:
            raise ValueError(str(exc)) from exc
        report = ingest_package(package, catalog, images_dir, progress=not args.quiet)
        return report, package_labels(package, locate_media(package, images_dir), methods)
    from ..formats.coco_ct import read_cct
    from ..ingest.coco_ct import cct_labels, ingest_cct, locate_images
    data = read_cct(args.coco_ct)
    report = ingest_cct(data, catalog, images_dir, progress=not args.quiet)
    return report, cct_labels(data, locate_images(data, images_dir))


def _catalog_for(args):
    from ..catalog import Catalog
    from ..config import default_catalog_path
    source = Path(args.camtrap_dp or args.coco_ct)
    return Catalog(args.catalog or default_catalog_path(source if source.is_dir() else source.parent))


def ingest_exchange(args) -> int:
    """``irbis ingest --camtrap-dp PACKAGE`` / ``--coco-ct FILE``."""
    from ..ingest.camtrap_dp import write_labels_csv
    with _catalog_for(args) as catalog:
        report, labels = _read_exchange(args, catalog)
    print(report.summary())
    print(labels.summary())
    if args.labels_out:
        write_labels_csv(labels, args.labels_out)
        print(f"labels written to {args.labels_out}")
    return 0


def train_exchange(args, options, listener, engine) -> int:
    """``irbis train --camtrap-dp PACKAGE`` / ``--coco-ct FILE``: the human observations are the labels."""
    from ..ingest.camtrap_dp import write_labels_csv
    from ..train import train
    with _catalog_for(args) as catalog:
        report, labels = _read_exchange(args, catalog)
        catalog_path = catalog.path
    print(report.summary())
    print(labels.summary())
    if not labels.labels:
        raise ValueError("no labelled photos found on disk (observations classified by people; "
                         "--machine-labels also uses machine ones)")
    with tempfile.TemporaryDirectory(prefix="irbis-labels-") as tmp:
        csv_path = write_labels_csv(labels, Path(tmp) / "labels.csv")
        result = train(csv_path, args.out, backbone=options.backbone, layer=options.layer, flip=options.flip,
                       catalog_path=args.catalog or catalog_path, runtime=options.runtime, listener=listener,
                       C=options.C, crops=args.crops, engine=engine, trainer=options.trainer,
                       spark_master=args.spark_master)
    print(result.summary())
    return 0
