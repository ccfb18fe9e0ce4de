"""Landed-to-visible latency of ``irbis watch`` feeding the dashboard.

One process runs the folder watcher (models loaded and warmed on one photo first) on a thread;
the main thread copies real trap frames into the watched folder one at a time and polls the
dashboard's index (the same reload a live ``irbis dashboard`` does on /api/version) until each
photo is there. Latency = copy finished -> photo visible in the dashboard index.

    .venv/bin/python bench/watch_latency.py --n 10 [--detector megadetector-lite-fast] [--gap 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_common import source_photos  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--detector", default="megadetector-lite-fast")
    ap.add_argument("--gap", type=float, default=3.0, help="seconds between photos landing")
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--no-inotify", action="store_true", help="poll only")
    args = ap.parse_args()
    os.environ.setdefault("IRBIS_HOME", str(Path(tempfile.gettempdir()) / "irbis-bench-watch-home"))
    from irbis.dashboard.index import Index
    from irbis.dashboard.sources import ResultsSource, load_source
    from irbis.dashboard.watcher import Watcher
    from irbis.options import RunOptions

    photos = source_photos()[: args.n + 1]
    work = Path(tempfile.mkdtemp(prefix="irbis-watch-bench-"))
    drop, out = work / "drop" / "CAM", work / "live.json"
    drop.mkdir(parents=True)
    shutil.copy(photos[0], drop / ("warmup_" + photos[0].name))
    w = Watcher(drop.parent, out, None, RunOptions(detector=args.detector), settle_s=args.settle, poll_s=0.2,
                use_inotify=not args.no_inotify)
    t0 = time.monotonic()
    while not w.step():                      # warm-up: model sessions built, first photo done
        time.sleep(0.2)
    print(f"watcher ready (models loaded, warm-up photo) in {time.monotonic() - t0:.1f}s", flush=True)
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            if not w.step():
                w.sleep()
    th = threading.Thread(target=loop, daemon=True)
    th.start()
    ix = Index(work / "dash.sqlite")
    src = ResultsSource("live", out)
    lat = []
    try:
        for i, p in enumerate(photos[1:]):
            name = f"{i:03d}_{p.name}"
            shutil.copy(p, drop / name)
            landed = time.monotonic()
            while True:
                load_source(ix, src)
                if ix.query("SELECT 1 FROM photos WHERE file=?", (f"CAM/{name}",)):
                    break
                if time.monotonic() - landed > 120:
                    raise SystemExit(f"{name} not visible after 120 s")
                time.sleep(0.1)
            lat.append(time.monotonic() - landed)
            print(f"{name}: visible after {lat[-1]:.2f}s", flush=True)
            time.sleep(max(0.0, args.gap - lat[-1]))
    finally:
        stop.set()
        th.join(30)
        w.close()
    print(f"\nlanded-to-visible, {len(lat)} real trap frames one at a time, detector {args.detector}, "
          f"{w.mode}, settle {args.settle}s, scan every 0.2s: median {statistics.median(lat):.2f}s, "
          f"max {max(lat):.2f}s")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
