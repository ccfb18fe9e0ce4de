"""``--engine local|spark`` and ``--spark-master``: one definition (:class:`irbis.options.EngineOptions`)
for every command that maps a stage over photos (featurize, train, predict, detect, run)."""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from typing import Iterator

from ..options import EngineOptions, add_cli_options, from_cli

PHOTOS_HELP = ("the photo folder; with --engine spark also a URL Spark reads itself (binaryFile): s3a://bucket/prefix, "
               "hdfs://nn/path, file:///mnt/share/... (the driver opens no photo)")


def add_engine_args(p: argparse.ArgumentParser) -> None:
    add_cli_options(p, EngineOptions)


@contextmanager
def engine_from_args(args: argparse.Namespace) -> Iterator:
    """The engine the flags name, started before any work (a missing Java fails at once, in one
    line) and closed afterwards (a Spark session is stopped)."""
    from ..engines import close_engine
    engine = from_cli(EngineOptions, args).make_engine(getattr(args, "decode_threads", 1) or 1)
    try:
        yield engine
    finally:
        close_engine(engine)


def check_engine_args(args: argparse.Namespace) -> None:
    """For ``irbis serve``: check the engine can start here (Java, pyspark: one line if not), then
    hand the choice to the worker processes in their environment (:func:`worker_engine`)."""
    import os
    options = from_cli(EngineOptions, args)
    from ..engines import close_engine
    close_engine(options.make_engine())       # the spark engine checks Java and pyspark; no session yet
    os.environ["IRBIS_ENGINE"] = options.engine
    if options.spark_master:
        os.environ["IRBIS_SPARK_MASTER"] = options.spark_master
