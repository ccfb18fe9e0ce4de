"""Spark engine throughput: featurize and detect photos/s on the local engine, Spark local[1] and
Spark local[2], on the same photos in one run.

    .venv/bin/python bench/spark.py [--n 24] [--kit ../shared/data] [--tasks featurize,detect]

Photos: the kit's real dev trap frames (heron burst, jaguars, burrowing owls, MegaDetector's
samples), the first N in name order (cycled past the ~90 there are); no feature cache. Each
Spark session is warmed up first (JVM start, Python workers, model load once per worker: a fixed
cost, printed) so the rates are the steady state a long survey sees. Inference is
single-threaded per task everywhere, with one decode thread ahead of it (local engine and each
Spark task alike). Aims (issue 14): local[2] >= 1.6x local[1],
local[2] within 25 % of the local engine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from irbis.engines import get_engine  # noqa: E402
from irbis.engines.spark import SparkEngine, spark_session  # noqa: E402
from irbis.records import ImageRecord  # noqa: E402
from irbis.stages.featurize import FeaturizeSpec  # noqa: E402
from irbis.stages.survey import SurveySpec  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("camtrapdp_heron", "animl_Jaguar", "animl_BUOW", "megadetector_samples")


class CountSink:
    def __init__(self):
        self.ok = self.failed = 0

    def put(self, record, result):
        self.ok += 1

    def fail(self, record, reason):
        self.failed += 1


def kit_photos(kit: Path, n: int) -> list[ImageRecord]:
    paths = [p for f in FOLDERS for p in sorted((kit / "cameratrap/dev" / f).iterdir())
             if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    paths = [paths[i % len(paths)] for i in range(n)]   # more than the kit has: cycled (no cache is used)
    # no content hash: engines then skip the "file changed since ingest" check (a made-up hash
    # would fail every photo with it), and every photo is computed (no cache)
    return [ImageRecord(i, str(p), str(p.parent), p.name, "bench", None, None, None, None, None, None)
            for i, p in enumerate(paths)]


def timed(engine, stage, records) -> tuple[float, CountSink]:
    sink = CountSink()
    t = time.perf_counter()
    engine.map(stage, records, sink)
    return time.perf_counter() - t, sink


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--kit", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--tasks", default="featurize,detect")
    ap.add_argument("--masters", default="local[1],local[2]")
    ap.add_argument("--url", action="store_true",
                    help="also time each Spark run with the photos named by file:// URL (binaryFile: "
                         "the executors read them)")
    args = ap.parse_args(argv)
    records = kit_photos(Path(args.kit), args.n)
    url_records = [replace(r, path=f"file://{r.path}") for r in records]   # as Spark names files: not %-encoded
    specs = {"featurize": FeaturizeSpec(threads=1), "detect": SurveySpec("megadetector-lite", threads=1)}
    tasks = [t for t in args.tasks.split(",") if t]
    stages = {t: specs[t].build() for t in tasks}
    print(f"{len(records)} photos from {args.kit}/cameratrap/dev ({', '.join(FOLDERS)}); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    rates: dict[tuple[str, str], float] = {}
    local = get_engine("local", decode_threads=1)
    for t in tasks:
        timed(local, stages[t], records[:2])                       # model loaded, graph exported
        secs, sink = timed(local, stages[t], records)
        rates[(t, "local engine")] = len(records) / secs
        print(f"{t:<10} local engine : {rates[(t, 'local engine')]:6.2f} photos/s ({secs:.1f} s, {sink.failed} failed)")
    for master in args.masters.split(","):
        t0 = time.perf_counter()
        spark = spark_session(master)
        engine = SparkEngine(spark=spark, batch_size=4, partition_photos=max(2, len(records) // 8))
        cores = engine.parallelism()
        for t in tasks:   # warm-up: one small task per core so every Python worker has the stage
            warm = SparkEngine(spark=spark, batch_size=1, partition_photos=1)
            warm.map(stages[t], records[:cores], CountSink())
        print(f"spark {master}: session and warm-up {time.perf_counter() - t0:.1f} s")
        for t in tasks:
            secs, sink = timed(engine, stages[t], records)
            rates[(t, master)] = len(records) / secs
            print(f"{t:<10} spark {master:<8}: {rates[(t, master)]:6.2f} photos/s ({secs:.1f} s, {sink.failed} failed)")
            if args.url:
                secs, sink = timed(engine, stages[t], url_records)
                print(f"{t:<10} spark {master:<8} by URL: {len(records) / secs:6.2f} photos/s ({secs:.1f} s, "
                      f"{sink.failed} failed)")
        spark.stop()
    masters = args.masters.split(",")
    for t in tasks:
        if len(masters) >= 2:
            a, b = masters[0], masters[-1]
            print(f"{t:<10} {b} / {a}: {rates[(t, b)] / rates[(t, a)]:.2f}x (aim >= 1.6x)")
        last = masters[-1]
        print(f"{t:<10} {last} / local engine: {rates[(t, last)] / rates[(t, 'local engine')]:.2f}x (aim >= 0.75x)")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
