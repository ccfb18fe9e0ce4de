"""Stages: the heavy per-photo steps (featurize, detect, classify), each in two halves.

The contract every stage keeps, so any engine (:mod:`irbis.engines`) can drive it:

* it is built from a small, picklable, frozen **spec** (``stage.spec``; ``spec.build()`` makes an
  equal stage), so an engine can rebuild it in another process or on a Spark executor: stages
  themselves hold locks and ONNX sessions and are never pickled;
* ``id`` names the models and settings behind its results: it keys feature caches and run journals;
* ``prepare(record)`` is the CPU half (decode, resize): thread-safe, it raises
  :class:`irbis.imageio.ImageReadError` for a photo that cannot be used. It decodes
  ``record.source``: the file at ``record.path``, or the bytes an engine already read (the spark
  engine's ``binaryFile`` input), through :func:`irbis.imageio.open_image` either way;
* ``run(batch)`` is the inference half: a list of what ``prepare`` returned -> one result each.
  An exception here is a failure of that photo ("<failure_label> failed: ..."), not of the run.

Stages never import an engine, the CLI, the service or the dashboard.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

from ..records import ImageRecord


@runtime_checkable
class StageSpec(Protocol):
    """A picklable description of a stage (a frozen dataclass of names, paths and numbers)."""

    def build(self) -> "Stage": ...


@runtime_checkable
class Stage(Protocol):
    failure_label: str       # "featurizer", "detector": names the part that failed in a failure reason

    @property
    def spec(self) -> StageSpec: ...

    @property
    def id(self) -> str: ...

    def prepare(self, record: ImageRecord) -> Any: ...

    def run(self, batch: Sequence[Any]) -> list[Any]: ...


class Decoded(tuple):
    """What a stage's ``prepare`` returns, with the SHA-256 of the bytes actually decoded.

    A photo replaced between ingest and decoding must not have its results stored under the
    hash taken at ingest (another photo's features served for that content forever after), so
    engines compare ``sha256`` with the record's (:func:`content_changed`)."""

    sha256: str | None

    def __new__(cls, items, sha256: str | None):
        obj = super().__new__(cls, items)
        obj.sha256 = sha256
        return obj


def content_changed(record: ImageRecord, prepared: Any) -> str | None:
    """A failure reason when the bytes ``prepare`` decoded are not the ones catalogued, else None."""
    actual = getattr(prepared, "sha256", None)
    if actual and record.sha256 and actual != record.sha256:
        return ("file changed after it was catalogued (its content is not the one ingested); "
                "nothing stored for it: re-run to process the new content")
    return None
