"""``irbis watch``: photos landing in a folder are detected (and classified) as they arrive.

Each poll finds photos whose size and mtime have held still for ``settle_s`` and that decode
whole (a file still being copied is waited for; one that stays broken for ``give_up_s`` becomes
a per-photo failure, as in ``irbis run``). New photos are catalogued (bursts rebuilt), run through
the same survey stage and run journal as ``irbis run``, and the results file is rewritten
atomically after every batch: the ensemble of a burst is recomputed when its last frame lands,
and a dashboard reading the file sees the photo within seconds. A restart (even after kill -9)
reads the journal back and reprocesses nothing.

inotify where available (:mod:`irbis.dashboard.notify`): a file closed after writing wakes the
watcher at once and needs no settle time if it decodes whole; the folder is still scanned every
``poll_s`` (default 0.5 s), which is all there is where inotify is missing (network drives).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..imageio import ImageReadError, open_image


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float                 # monotonic time this (size, mtime) was first seen
    broken_since: float | None = None


@dataclass
class WatchStats:
    batches: int = 0
    photos: int = 0
    failures: int = 0
    new: int = 0                 # photos detected in the last batch (the rest were in the journal)
    latencies_s: list[float] = field(default_factory=list)   # first seen -> results written


class Watcher:
    def __init__(self, folder: str | os.PathLike, out: str | os.PathLike, model: str | None = None,
                 options=None, catalog_path: str | os.PathLike | None = None, settle_s: float = 1.0,
                 poll_s: float = 0.5, give_up_s: float = 30.0, batch_max: int = 64, listener=None,
                 use_inotify: bool = True):
        from ..config import default_catalog_path
        from ..detection_run import load_components
        from ..options import RunOptions
        self.folder = Path(folder).resolve()
        if not self.folder.is_dir():
            raise FileNotFoundError(f"not a folder: {folder}")
        self.out = Path(out)
        self.options = options or RunOptions()
        self.comp = load_components(self.options, model)
        self.catalog_path = catalog_path or default_catalog_path(self.folder)
        self.settle_s, self.poll_s, self.give_up_s, self.batch_max = settle_s, poll_s, give_up_s, batch_max
        self.listener = listener
        self.seen: dict[str, _Seen] = {}
        self.accepted: dict[str, float] = {}         # path -> monotonic time first seen
        self.stats = WatchStats()
        from ..runs import RunJournal
        self.journal = RunJournal(self.out, self.comp.settings)
        self.journal.open()
        from .notify import folder_notifier
        self.notifier = folder_notifier(self.folder) if use_inotify else None
        self.closed: set[str] = set()               # files inotify saw closed after writing

    @property
    def mode(self) -> str:
        return "inotify + polling" if self.notifier else "polling"

    def close(self) -> None:
        self.journal.close()
        if self.notifier:
            self.notifier.close()

    def sleep(self) -> None:
        """Wait for the next scan: an inotify event or ``poll_s``, whichever comes first."""
        if self.notifier is None:
            time.sleep(self.poll_s)
        else:
            self.closed |= self.notifier.wait(self.poll_s)

    # -- which files are ready ---------------------------------------------------------------
    def _ready(self, now: float) -> list[Path]:
        from ..ingest import scan_photos
        ready = []
        for p in scan_photos(self.folder):
            key = str(p.resolve())
            if key in self.accepted:
                continue
            try:
                st = p.stat()
            except OSError:
                continue
            s = self.seen.get(key)
            if s is None or (s.size, s.mtime_ns) != (st.st_size, st.st_mtime_ns):
                s = self.seen[key] = _Seen(st.st_size, st.st_mtime_ns, now)
                if key not in self.closed:
                    continue
            if now - s.since < self.settle_s and key not in self.closed:
                continue
            try:
                open_image(p, min_short_side=64)       # decodes whole (draft mode: cheap)
            except ImageReadError:
                self.closed.discard(key)                # closed but broken: wait as for a copy
                s.broken_since = s.broken_since or now
                if now - s.broken_since < self.give_up_s:
                    continue                           # maybe still arriving; a broken file fails later
            ready.append(p)
        return ready

    # -- one batch -----------------------------------------------------------------------------
    def step(self) -> int:
        """Process photos that are ready; returns how many were added."""
        from ..catalog import Catalog
        from ..detection_run import RunReport, assemble, detect_records, results_document
        from ..engines import get_engine
        from ..formats.md_json import write_results
        from ..ingest import ingest_folder
        now = time.monotonic()
        ready = self._ready(now)[: self.batch_max]
        if not ready:
            return 0
        for p in ready:
            key = str(p.resolve())
            self.accepted[key] = self.seen.pop(key).since
            self.closed.discard(key)
        with Catalog(self.catalog_path) as catalog:
            ingest_folder(self.folder, catalog, sequence_gap_s=self.options.sequence_gap, progress=False,
                          files=[Path(k) for k in self.accepted])
            records = catalog.images(paths=list(self.accepted))
        before = len(self.journal.done)
        detect_records(records, self.comp.stage, self.journal,
                       get_engine(decode_threads=self.options.decode_threads), self.listener)
        self.journal.flush()
        report = RunReport(out=str(self.out))
        entries = assemble(records, self.journal.done, self.options, self.comp.classes, report)
        doc = results_document(entries, self.options, self.comp, report)
        doc["info"].setdefault("irbis", {})["photos_root"] = str(self.folder)
        write_results(self.out, doc)
        done = time.monotonic()
        self.stats.batches += 1
        self.stats.photos = report.photos
        self.stats.failures = len(report.failures)
        self.stats.new = len(self.journal.done) - before
        self.stats.latencies_s += [done - self.accepted[str(p.resolve())] for p in ready]
        return len(ready)

    def run(self, stop_after_idle_s: float | None = None, on_batch=None) -> WatchStats:
        """Poll until interrupted (or until nothing arrived for ``stop_after_idle_s``)."""
        idle_since = time.monotonic()
        while True:
            n = self.step()
            if n:
                idle_since = time.monotonic()
                if on_batch:
                    on_batch(n, self)
            elif stop_after_idle_s is not None and time.monotonic() - idle_since > stop_after_idle_s:
                return self.stats
            else:
                self.sleep()
