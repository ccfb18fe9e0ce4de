"""Features for photos through the on-disk cache: one function for train, predict, ablation and
``irbis featurize``.

Photos are grouped by content hash (copies cost nothing), cached vectors are reused, and only
the rest go through the stage on an engine; new vectors are written to the cache as they come.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .config import feature_cache_path
from .engines import Engine, get_engine
from .feature_cache import FeatureCache
from .progress import Listener
from .records import ImageRecord
from .stages.featurize import Features

FLUSH_EVERY = 64


@dataclass
class FeatureTable:
    """Features per (image id, flipped) and a failure reason per failed image id."""

    features: dict[tuple[int, bool], np.ndarray] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)
    computed: int = 0
    cached: int = 0
    boxed: int = 0          # crop features: photos of which an animal box was cropped

    def matrix(self, records: Sequence[ImageRecord], flipped: bool = False) -> tuple[np.ndarray, list[int]]:
        """Stack features of the records that have them; returns (X, indices into records)."""
        idx = [i for i, r in enumerate(records) if (r.id, flipped) in self.features]
        if not idx:
            return np.zeros((0, 0), np.float32), []
        return np.stack([self.features[(records[i].id, flipped)] for i in idx]), idx


class FeatureSink:
    """Engine sink: features into the table (for every photo sharing the content) and the cache."""

    def __init__(self, table: FeatureTable, cache: FeatureCache | None, stage_id: str, flips: tuple[bool, ...],
                 groups: dict[str, list[ImageRecord]]):
        self.table, self.cache, self.stage_id, self.flips, self.groups = table, cache, stage_id, flips, groups
        self.pending: list[tuple[str, bool, np.ndarray]] = []

    def put(self, record: ImageRecord, result: Features) -> None:
        sha = record.sha256
        assert sha is not None, "only photos with a content hash are featurized"
        for f, v in zip(self.flips, result.vectors):
            self.pending.append((sha, f, v))
            for r in self.groups[sha]:
                self.table.features[(r.id, f)] = v
        self.table.computed += len(self.groups[sha])
        self.table.boxed += bool(result.boxed) * len(self.groups[sha])
        if len(self.pending) >= FLUSH_EVERY:
            self.flush()

    def fail(self, record: ImageRecord, reason: str) -> None:
        for r in self.groups[record.sha256 or ""]:
            self.table.failures[r.id] = reason

    def flush(self) -> None:
        if self.cache is not None and self.pending:
            self.cache.put_many(self.stage_id, self.pending)
        self.pending = []


def compute_features(records: Sequence[ImageRecord], stage, engine: Engine | None = None,
                     listener: Listener | None = None, task: str = "featurize",
                     cache: FeatureCache | None | bool = True) -> FeatureTable:
    """Features for every record and every flip of ``stage.spec.flips``, from the cache where possible.

    ``stage``: a :class:`~irbis.stages.featurize.FeaturizeStage` or a crop stage (anything whose
    ``run`` returns :class:`~irbis.stages.featurize.Features`). ``cache``: True opens the cache
    under the irbis home (and closes it), False uses none, or an open :class:`FeatureCache`.
    """
    own = cache is True
    db: FeatureCache | None
    if cache is True:
        db = FeatureCache(feature_cache_path())
    elif isinstance(cache, FeatureCache):
        db = cache
    else:
        db = None
    try:
        return _compute(records, stage, engine or get_engine(), listener, task, db)
    finally:
        if own and db is not None:
            db.close()


def _compute(records, stage, engine: Engine, listener, task, cache: FeatureCache | None) -> FeatureTable:
    table = FeatureTable()
    flips = tuple(stage.spec.flips)
    sid = stage.id
    todo: dict[str, list[ImageRecord]] = {}
    for r in records:
        if r.failure:
            table.failures[r.id] = r.failure
        elif not r.sha256:
            table.failures[r.id] = "no content hash (file unreadable at ingest)"
        else:
            todo.setdefault(r.sha256, []).append(r)
    if cache is not None and todo:
        hits = cache.get_many(sid, [(sha, f) for sha in todo for f in flips])
        for sha in list(todo):
            if all((sha, f) in hits for f in flips):
                for r in todo.pop(sha):
                    for f in flips:
                        table.features[(r.id, f)] = hits[(sha, f)]
                    table.cached += 1
    sink = FeatureSink(table, cache, sid, flips, todo)
    try:
        engine.map(stage, [rs[0] for rs in todo.values()], sink, listener, task)
    finally:
        sink.flush()
    return table
