"""Engines map a stage over photo records and hand each result, or a per-photo failure, to a sink.

The seam between *what* is computed (:mod:`irbis.stages`) and *where* (this package):

* :class:`Engine` — ``map(stage, records, sink, listener, task)``; the local engine
  (:mod:`irbis.engines.local`) decodes on threads ahead of inference in this process; the spark
  engine (:mod:`irbis.engines.spark`) runs the same stage on Spark executors;
* :class:`Sink` — where results go: a feature cache (:mod:`irbis.features`), a run journal or a
  service shard (:mod:`irbis.detection_run`), ...;
* progress is reported as :class:`irbis.progress.Progress` events to a listener.

:func:`get_engine` is the one place an engine is chosen.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from ..progress import Listener
from ..records import ImageRecord
from ..stages import Stage

ENGINES = ("local", "spark")


class Sink(Protocol):
    def put(self, record: ImageRecord, result: Any) -> None:
        """A photo's result (what the stage's ``run`` returned for it)."""

    def fail(self, record: ImageRecord, reason: str) -> None:
        """A photo that could not be processed, and why."""


class Engine(Protocol):
    name: str

    def map(self, stage: Stage, records: Sequence[ImageRecord], sink: Sink, listener: Listener | None = None,
            task: str = "process") -> None:
        """Run ``stage`` over ``records``; every record reaches ``sink`` exactly once (put or fail)."""


def get_engine(name: str = "local", decode_threads: int = 1, spark_master: str | None = None) -> Engine:
    """The engine called ``name``: ``local`` (this process; ``decode_threads`` decode ahead) or
    ``spark`` (on ``spark_master``: ``local[*]`` by default, a cluster URL, or ``sc://`` for Spark
    Connect; $SPARK_REMOTE when none is given)."""
    if name == "local":
        from .local import LocalEngine
        return LocalEngine(decode_threads=decode_threads)
    if name == "spark":
        from .spark import SparkEngine
        return SparkEngine(master=spark_master, decode_threads=decode_threads)
    raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")


def close_engine(engine: Engine) -> None:
    """Release what an engine holds (a Spark session); nothing for the local engine."""
    close = getattr(engine, "close", None)
    if close is not None:
        close()
