"""The ``irbis`` command: one entry point, one sub-command per job.

Every module in :data:`COMMAND_MODULES` registers its sub-commands the same way: a function
``add_parser(subparsers)`` adds parsers and sets ``func`` with ``p.set_defaults(func=...)``;
``func(args)`` returns the exit code. Modules are imported when the parser is built; the work
they call is imported inside ``func``, so ``irbis --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sqlite3
import sys

from .. import __version__

EXIT_USAGE = 2
COMMAND_MODULES: list[str] = ["irbis.cli.photos", "irbis.cli.survey", "irbis.cli.evaluate", "irbis.cli.synth",
                              "irbis.cli.serve", "irbis.cli.exchange", "irbis.cli.dashboard",
                              "irbis.cli.explain", "irbis.cli.strips"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="irbis", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"irbis {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..faults import EXIT_FAULT, MachineFault, describe
    from ..ingest import IngestError
    from ..labels import LabelsError
    from ..models.registry import BackboneError
    try:
        return args.func(args)
    except (IngestError, LabelsError, BackboneError, FileNotFoundError, ValueError) as exc:
        print(f"irbis {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (MachineFault, OSError, sqlite3.Error) as exc:   # disk full, read-only home, model load, ...
        print(f"irbis {args.command}: stopped: {describe(exc)}\nNothing was recorded for photos not processed and no "
              f"output was half-written; fix this and run the same command again to resume.", file=sys.stderr)
        return EXIT_FAULT
    except KeyboardInterrupt:
        print("interrupted; finished work is cached and a re-run resumes", file=sys.stderr)
        return 130


def add_catalog_and_quiet(p) -> None:
    """The two options every photo-folder command has."""
    p.add_argument("--catalog", help="catalog SQLite file (default: one per photo folder under $IRBIS_HOME)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def listener(args):
    """The progress listener for a command: a progress bar unless ``--quiet``."""
    if getattr(args, "quiet", False):
        return None
    from ..progress import progress_bar
    return progress_bar()


if __name__ == "__main__":
    sys.exit(main())
