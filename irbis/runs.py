"""Resumable batch runs: an append-only journal beside the output, atomic finalisation.

Each finished photo is appended to ``<out>.journal.jsonl`` as one JSON line and flushed to disk
every few photos. After a crash (even kill -9) the same command reads the journal back, skips
the photos it already holds (a torn last line is ignored) and carries on. The journal's first
line fingerprints the run's settings: a journal from other settings is set aside, never mixed in.
When the output has been written atomically, the journal is removed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO


class RunJournal:
    def __init__(self, out: str | os.PathLike, settings: dict, flush_every: int = 16,
                 flush_seconds: float = 2.0):
        self.path = Path(str(out) + ".journal.jsonl")
        self.settings = settings
        self.flush_every, self.flush_seconds = flush_every, flush_seconds
        self.done: dict[str, dict] = {}
        self.resumed = 0
        self._fh: IO[str] | None = None
        self._pending = 0
        self._last_flush = time.monotonic()

    def __enter__(self) -> "RunJournal":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> dict[str, dict]:
        """Load what a previous, interrupted run finished; returns key -> record."""
        header = {"irbis_journal": 1, "settings": self.settings}
        if self.path.exists():
            lines = self.path.read_bytes().split(b"\n")
            try:
                first = json.loads(lines[0])
            except (ValueError, IndexError):
                first = None
            if first == json.loads(json.dumps(header)):
                for line in lines[1:]:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue  # the torn last line of a killed run
                    if isinstance(rec, dict) and "key" in rec:
                        self.done[rec["key"]] = rec
                self.resumed = len(self.done)
                # Rewrite without the torn tail so appends start on a clean line.
                self._rewrite(header)
            else:
                self.path.replace(self.path.with_suffix(".stale.jsonl"))
                self._rewrite(header)
        else:
            self._rewrite(header)
        self._fh = open(self.path, "a", encoding="utf-8")
        return self.done

    def _rewrite(self, header: dict) -> None:
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(header) + "\n")
            for rec in self.done.values():
                fh.write(json.dumps(rec) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def append(self, key: str, record: dict) -> None:
        rec = {"key": key, **record}
        self.done[key] = rec
        assert self._fh is not None, "open() the journal first"
        self._fh.write(json.dumps(rec) + "\n")
        self._pending += 1
        if self._pending >= self.flush_every or time.monotonic() - self._last_flush > self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        if self._fh and self._pending:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._pending = 0
            self._last_flush = time.monotonic()

    def close(self) -> None:
        if self._fh:
            self.flush()
            self._fh.close()
            self._fh = None

    def finish(self) -> None:
        """The output is safely written: the journal is no longer needed."""
        self.close()
        self.path.unlink(missing_ok=True)
