"""``irbis strips`` and the ``--read-strips`` option of ``irbis ingest``.

    irbis strips PHOTOS_DIR --out strips.csv [--threads N] [--no-burst-reuse]
    irbis ingest PHOTOS_DIR --read-strips

Both need the OCR extra; without it they stop with one line naming the install command.
"""

from __future__ import annotations

import sys

EXIT_USAGE = 2


def add_parser(sub) -> None:
    p = sub.add_parser("strips", help="read the camera's info strip (date, time, temperature, camera name, "
                                      "burst index) of every photo into a CSV")
    p.add_argument("photos_dir")
    p.add_argument("--out", required=True, help="CSV to write: one row per photo, failures included")
    p.add_argument("--threads", type=int, default=1, help="OCR threads (default: 1)")
    p.add_argument("--no-burst-reuse", action="store_true",
                   help="read every frame in full instead of reusing the burst's word boxes (slower; a reference)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_strips)


def _missing(exc) -> int:
    print(f"irbis: error: {exc}", file=sys.stderr)
    return EXIT_USAGE


def cmd_strips(args) -> int:
    from ..stages.strip_ocr import OCRMissingError
    from ..strips_run import read_strips
    try:
        report = read_strips(args.photos_dir, args.out, threads=args.threads, reuse=not args.no_burst_reuse,
                             progress=not args.quiet)
    except OCRMissingError as exc:
        return _missing(exc)
    print(report.summary())
    for r in [r for r in report.rows if r.get("failure")][:20]:
        print(f"  {r['file']}: {r['failure']}")
    return 0


def add_read_strips_options(ingest) -> None:
    g = ingest.add_argument_group("info strips")
    g.add_argument("--read-strips", action="store_true",
                   help="also OCR each photo's info strip into the catalog; photos without an EXIF time take "
                        "the strip's time; a constant strip - EXIF difference is offered as --clock-offset")
    g.add_argument("--strip-threads", type=int, default=1, help="OCR threads for --read-strips (default: 1)")


def check_ocr() -> int:
    """0 when the OCR extra loads, else the usage exit code after one line naming the install command."""
    from ..stages.strip_ocr import OCRMissingError, load_engine
    try:
        load_engine(1)  # before the ingest, so a missing extra costs nothing
    except OCRMissingError as exc:
        return _missing(exc)
    return 0


def read_strips_after_ingest(args) -> int:
    from ..catalog import Catalog
    from ..config import default_catalog_path
    from ..strips_catalog import read_strips_into_catalog
    with Catalog(args.catalog or default_catalog_path(args.photos_dir)) as catalog:
        report, used = read_strips_into_catalog(catalog, args.photos_dir, threads=args.strip_threads,
                                                progress=not args.quiet)
    print(f"strips: {report.summary()}")
    print(f"strips: {used} photo(s) without an EXIF time took the strip's time")
    return 0
