"""Dashboard at scale: a 50 000-photo results set (synthetic rows over real trap-frame files),
first load and filter-change times over real HTTP on loopback.

Two surveys of N/2 photos each over 40 camera sites and 90 days; ~60 % of photos have 1-3 boxes
(animal / person / vehicle), animal boxes carry one of 6 species. Every row points at one of the
kit's real trap frames, so thumbnails are real decodes (then cached).

    .venv/bin/python bench/dashboard.py [--n 50000] [--repeat 5]

"first load" = what the page fetches on opening (page, script, surveys, labels, summary with every
view, basemap); "filter change" = the summary again for another survey + species + threshold;
"review page" = one page of 24 photos with their boxes; thumbnails cold (decode) and cached.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_common import free_port, source_photos  # noqa: E402

SPECIES = ["leopard", "ibex", "fox", "marmot", "wolf", "hare"]


def synthetic(n: int, survey: int, photos: list[Path], rng: random.Random):
    from irbis.dashboard.index import PhotoMeta
    images, meta = [], {}
    t0 = datetime(2025, 6, 1)
    for i in range(n):
        site = f"S{survey}{rng.randrange(20):02d}"
        file = f"{site}/IMG_{i:06d}.JPG"
        t = t0 + timedelta(seconds=rng.randrange(90 * 86400))
        dets = []
        if rng.random() < 0.6:
            for _ in range(rng.randint(1, 3)):
                cat = rng.choices(["1", "2", "3"], [0.85, 0.1, 0.05])[0]
                d = {"category": cat, "conf": round(rng.random(), 3),
                     "bbox": [round(rng.random() * 0.6, 4), round(rng.random() * 0.6, 4), 0.2, 0.25]}
                if cat == "1":
                    k = rng.randrange(len(SPECIES))
                    d["classifications"] = [[str(k), round(0.4 + 0.6 * rng.random(), 3)]]
                dets.append(d)
        images.append({"file": file, "detections": dets, "seq_id": f"{site}#{i // 3}"})
        meta[file] = PhotoMeta(str(photos[i % len(photos)]), site, t.isoformat(timespec="seconds"), f"{site}#{i // 3}")
    doc = {"info": {"format_version": "1.6"}, "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
           "classification_categories": {str(k): s for k, s in enumerate(SPECIES)}, "images": images}
    return doc, meta


def timed(client, path: str, **params) -> float:
    t = time.perf_counter()
    r = client.get(path, params=params)
    r.raise_for_status()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    import httpx
    import uvicorn

    from irbis.dashboard.app import Dashboard, create_app
    from irbis.dashboard.index import Index
    from irbis.dashboard.sources import Sources
    from irbis.dashboard.thumbs import ThumbCache

    work = Path(tempfile.mkdtemp(prefix="irbis-dash-bench-"))
    photos = source_photos()[:40]
    rng = random.Random(0)
    ix = Index(work / "dashboard.sqlite")
    t = time.perf_counter()
    for s in range(2):
        doc, meta = synthetic(args.n // 2, s, photos, rng)
        ix.load_survey(f"survey{s + 1}", doc, meta, "synthetic", None, 0.0)
    load_s = time.perf_counter() - t
    ix.load_sites([(f"S{s}{k:02d}", 36 + s + k * 0.05, 70 + k * 0.07, None, None) for s in range(2) for k in range(20)])
    dets = ix.query("SELECT COUNT(*) AS n FROM detections")[0]["n"]
    dash = Dashboard(ix, Sources(ix, []), ThumbCache(work / "thumbs"), token="bench")
    from irbis.dashboard.basemap import _rings
    _rings()                                   # irbis dashboard decodes the outlines at start-up
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(dash), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    c = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": "Bearer bench"}, timeout=120)

    parts: dict[str, list[float]] = {}

    def first_load() -> float:
        steps = {"page + script": timed(c, "/") + timed(c, "/static/dashboard.js"),
                 "surveys": timed(c, "/api/surveys"), "labels": timed(c, "/api/labels", conf=0.2),
                 "summary": timed(c, "/api/summary", conf=0.2),
                 "basemap": timed(c, "/api/basemap", bbox="68,34,73,40")}
        for k, v in steps.items():
            parts.setdefault(k, []).append(v)
        return sum(steps.values())

    def filter_change(k: int) -> float:
        return timed(c, "/api/summary", survey=f"survey{k % 2 + 1}", species=SPECIES[k % len(SPECIES)],
                     conf=0.2 + 0.1 * (k % 5))

    def review(k: int) -> float:
        return timed(c, "/api/photos", survey="survey1", species=SPECIES[k % 6], conf=0.3, page=k, size=24)

    rows = [("first load (page + surveys + labels + summary + basemap)", [first_load() for _ in range(args.repeat)]),
            ("filter change (survey + species + threshold)", [filter_change(k) for k in range(args.repeat)]),
            ("slider only (summary, all surveys)", [timed(c, "/api/summary", conf=0.05 * k)
                                                    for k in range(1, args.repeat + 1)]),
            ("review grid page (24 photos + boxes)", [review(k) for k in range(args.repeat)]),
            ("label next page (uncertainty order)", [timed(c, "/api/photos", show="all", order="uncertain",
                                                           page=k, size=24) for k in range(args.repeat)])]
    ids = [r["id"] for r in ix.query("SELECT id FROM photos ORDER BY id LIMIT 24")]
    cold = [timed(c, f"/thumb/{i}") for i in ids]
    warm = [timed(c, f"/thumb/{i}") for i in ids]
    rows += [("thumbnail, first request (decode + resize)", cold), ("thumbnail, cached", warm)]
    print(f"dashboard bench: {ix.query('SELECT COUNT(*) AS n FROM photos')[0]['n']} photos, {dets} detections, "
          f"2 surveys, 40 sites; indexed in {load_s:.1f}s; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'request':<60} {'first':>8} {'median':>8} {'max':>8}  (seconds)")
    for name, v in rows:
        print(f"{name:<60} {v[0]:8.3f} {statistics.median(v):8.3f} {max(v):8.3f}")
    print("first load, median by part: " + ", ".join(f"{k} {statistics.median(v):.3f}" for k, v in parts.items()))
    server.should_exit = True
    return 0


if __name__ == "__main__":
    sys.exit(main())
