"""A worker process: claims shards from the job store, detects them, aggregates finished jobs.

Started by ``irbis serve`` (``python -m irbis.service.worker``). Models are loaded once per
worker and per job settings. Each finished photo is committed to the store in small batches
while the worker holds the shard's lease; a heartbeat thread extends the lease and notices when
it is lost (the job was canceled, or the worker was presumed dead), and the shard is abandoned.
The worker dies with the server (PR_SET_PDEATHSIG, and a parent check in the heartbeat).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from ..catalog import Catalog
from ..detection_run import RunReport, assemble, detect_records, load_components, results_document
from ..engines import get_engine
from ..entries import entry_problem
from ..formats.md_json import write_results
from ..ingest import deployment_for, ingest_folder
from ..ingest.sequences import build_sequences
from ..options import RunOptions
from ..records import ImageRecord, record_key
from .store import Claim, Store


class LeaseLost(Exception):
    pass


def job_dir(state: Path, job_id: str) -> Path:
    return state / "jobs" / job_id


class ShardSink:
    """The journal of :func:`detect_records`: commits photos under the shard's lease.

    Each photo is committed as it finishes (``every=1``; a transaction costs milliseconds next to a
    detection), so a kill loses at most the photo in flight."""

    def __init__(self, store: Store, claim: Claim, done: dict, lost: threading.Event,
                 every: int = 1, seconds: float = 2.0):
        self.store, self.claim, self.done, self.lost = store, claim, done, lost
        self.every, self.seconds = every, seconds
        self.pending: list[tuple[str, dict]] = []
        self.last = time.monotonic()

    def append(self, key: str, record: dict) -> None:
        if self.lost.is_set():
            raise LeaseLost()
        self.done[key] = record
        self.pending.append((record["file"], record))
        if len(self.pending) >= self.every or time.monotonic() - self.last > self.seconds:
            self.flush()

    def flush(self, finish: bool = False) -> None:
        if not self.store.commit_results(self.claim, self.pending, finish=finish):
            self.lost.set()
            raise LeaseLost()
        self.pending, self.last = [], time.monotonic()


class Worker:
    def __init__(self, state: Path, worker_id: str, lease_s: float, aging_s: float, parent: int | None):
        self.state, self.id, self.lease_s, self.aging_s, self.parent = state, worker_id, lease_s, aging_s, parent
        self.store = Store(state / "jobs.sqlite")
        self.components: dict[tuple, object] = {}
        self.claim: Claim | None = None
        self.lost = threading.Event()
        self._lock = threading.Lock()
        self._engine: Any = None

    # -- lifecycle ------------------------------------------------------------------------
    def parent_alive(self) -> bool:
        return self.parent is None or os.getppid() == self.parent

    def heartbeat_loop(self) -> None:
        hb = Store(self.store.path)
        while True:
            time.sleep(max(0.2, self.lease_s / 4))
            if not self.parent_alive():
                os._exit(3)
            with self._lock:
                claim = self.claim
            try:
                if not hb.heartbeat(self.id, claim, self.lease_s) and claim is not None:
                    self.lost.set()
            except Exception as exc:  # a locked database for a minute: try again
                print(f"heartbeat failed: {exc}", file=sys.stderr, flush=True)

    def serve(self, idle_s: float = 0.5) -> None:
        self.store.register_worker(self.id, os.getpid())
        threading.Thread(target=self.heartbeat_loop, daemon=True).start()
        while self.parent_alive():
            claim = self.store.claim(self.id, self.lease_s, self.aging_s)
            if claim is None:
                time.sleep(idle_s)
                continue
            with self._lock:
                self.claim = claim
                self.lost.clear()
            t0 = time.time()
            try:
                (self.detect if claim.kind == "detect" else self.aggregate)(claim)
                print(f"{claim.kind} {claim.job_id}/{claim.idx}: {claim.count} photos in {time.time() - t0:.1f}s",
                      flush=True)
            except LeaseLost:
                print(f"{claim.job_id}/{claim.idx}: lease lost (canceled or taken over); abandoned", flush=True)
            except Exception as exc:
                print(f"{claim.job_id}/{claim.idx} failed:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
                self.store.shard_error(claim, f"{type(exc).__name__}: {exc}")
            finally:
                with self._lock:
                    self.claim = None

    # -- work -------------------------------------------------------------------------------
    def engine(self, options: RunOptions):
        """``irbis serve --engine spark`` sets $IRBIS_ENGINE: one Spark session per worker, kept
        across shards (each shard is a Spark job); else the local engine."""
        name = os.environ.get("IRBIS_ENGINE", "local")
        if name == "local":
            return get_engine(decode_threads=options.decode_threads)
        if self._engine is None:
            self._engine = get_engine(name, spark_master=os.environ.get("IRBIS_SPARK_MASTER"))
        return self._engine

    def job_settings(self, job_id: str):
        job = self.store.job(job_id)
        if job is None:
            raise LeaseLost()           # the job was deleted under us
        opts = json.loads(job["options"])
        options = RunOptions.from_dict(opts)
        key = (options.detector, opts.get("classifier_path"), options.runtime, options.crop_margin)
        if key not in self.components:
            self.components[key] = load_components(options, opts.get("classifier_path"))
        return job, opts, options, self.components[key]

    def records(self, job, photos, catalog: Catalog, failures: dict) -> list[ImageRecord]:
        """Catalog records in photo order; a photo missing from the catalog (deleted since submit)
        becomes a failure record."""
        by_path = {r.path: r for r in catalog.images(paths=[p["path"] for p in photos])}
        root = Path(job["root"])
        return [by_path.get(p["path"]) or ImageRecord(
            -1, p["path"], str(root), p["rel_path"], deployment_for(p["rel_path"], root, None), None, None, None,
            None, None, failures.get(p["rel_path"]) or entry_problem(p["path"]) or "file not found")
            for p in photos]

    def detect(self, c: Claim) -> None:
        job, _, options, comp = self.job_settings(c.job_id)
        photos = self.store.photos(c.job_id, c.first, c.count)
        existing, refused = usable_photos(photos, job["root"])
        folder = job_dir(self.state, c.job_id)
        with Catalog(folder / "catalog.sqlite") as catalog:
            if existing:
                ingest_folder(job["root"], catalog, sequence_gap_s=options.sequence_gap, progress=False,
                              threads=1, files=existing)
            records = self.records(job, photos, catalog, refused)
        stored = self.store.results(c.job_id, [p["rel_path"] for p in photos])
        done = {record_key(r): stored[r.rel_path] for r in records if r.rel_path in stored}
        sink = ShardSink(self.store, c, done, self.lost)
        detect_records(records, comp.stage, sink, self.engine(options))
        sink.flush(finish=True)

    def aggregate(self, c: Claim) -> None:
        job, _, options, comp = self.job_settings(c.job_id)
        photos = self.store.photos(c.job_id)
        stored = self.store.results(c.job_id)
        missing = [p["rel_path"] for p in photos if p["rel_path"] not in stored]
        if missing:
            raise RuntimeError(f"{len(missing)} photos have no result, e.g. {missing[:3]}")
        folder = job_dir(self.state, c.job_id)
        with Catalog(folder / "catalog.sqlite") as catalog:
            # Shards ingested their photos separately: rebuild every camera's bursts over all of them.
            with catalog.transaction():
                offsets = catalog.deployments()
                for dep in sorted(offsets):
                    frames = [(r[0], r[1], r[2]) for r in catalog.iter_deployment_frames(dep)]
                    catalog.replace_sequences(dep, *build_sequences(dep, frames, options.sequence_gap,
                                                                    offsets[dep]))
            failures = {rel: rec.get("failure") for rel, rec in stored.items() if rec.get("failure")}
            records = self.records(job, photos, catalog, failures)
        done = {record_key(r): stored[r.rel_path] for r in records}
        out = folder / "results.json"
        report = RunReport(out=str(out))
        entries = assemble(records, done, options, comp.classes, report, comp.policy)
        write_results(out, results_document(entries, options, comp, report))
        if self.lost.is_set() or not self.store.complete_job(c, str(out)):
            raise LeaseLost()


def usable_photos(photos, root: str) -> tuple[list[Path], dict[str, str]]:
    """The job's photos that are regular files inside its folder now, and a reason for each of the
    others: a photo replaced after submit by a link leading outside the folder is refused (never
    read) and the reason never shows where it leads."""
    real_root = Path(os.path.realpath(root))
    ok, refused = [], {}
    for p in photos:
        if not Path(os.path.realpath(p["path"])).is_relative_to(real_root):
            refused[p["rel_path"]] = "refused: a symbolic link leading outside the job's folder"
        elif (why := entry_problem(p["path"])) is not None:
            refused[p["rel_path"]] = why
        else:
            ok.append(Path(p["path"]))
    return ok, refused


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG
    except OSError:
        pass                               # not Linux: the heartbeat's parent check still applies


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="irbis-worker")
    p.add_argument("--state", required=True)
    p.add_argument("--id", required=True)
    p.add_argument("--lease", type=float, default=60.0)
    p.add_argument("--aging", type=float, default=60.0)
    p.add_argument("--parent", type=int)
    args = p.parse_args(argv)
    if args.parent is not None:
        _die_with_parent()
        if os.getppid() != args.parent:
            return 3
    Worker(Path(args.state), args.id, args.lease, args.aging, args.parent).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
