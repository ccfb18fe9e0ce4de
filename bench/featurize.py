"""Featurize throughput on 2048x1536 camera-trap JPEGs, every variant side by side in one run.

    .venv/bin/python bench/featurize.py [--n 200] [--kit ../shared/data]

Rows: decode only (full vs Pillow draft mode), decode + resize to the network input, and
decode + featurize through the local engine (one decode thread + one inference thread) with
ONNX Runtime and with torch eager. Photos are real trap frames (the kit's burrowing-owl
frames, 2048x1536) re-encoded with small changes so no two files are alike; no cache is used.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from irbis.catalog import Catalog  # noqa: E402
from irbis.engines import get_engine  # noqa: E402
from irbis.features import compute_features  # noqa: E402
from irbis.stages.featurize import FeaturizeStage, FeaturizeSpec  # noqa: E402
from irbis.imageio import open_image  # noqa: E402
from irbis.ingest import ingest_folder  # noqa: E402
from irbis.stages.featurize import Featurizer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def make_photos(kit: Path, out: Path, n: int) -> list[Path]:
    sources = sorted((kit / "cameratrap/dev/animl_BUOW").glob("*.JPG"))
    sources = [s for s in sources if Image.open(s).size == (2048, 1536)] or sources
    if not sources:  # no kit: the demo's heron burst, padded to 2048x1536
        sources = sorted((REPO / "examples/demo/test/heron_burst").glob("*.JPG"))
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    rng = np.random.default_rng(0)
    bases = [Image.open(s).convert("RGB").resize((2048, 1536)) for s in sources]
    for i in range(n):
        im = ImageEnhance.Brightness(bases[i % len(bases)]).enhance(float(rng.uniform(0.9, 1.1)))
        p = out / f"frame_{i:04d}.jpg"
        im.save(p, quality=90)
        paths.append(p)
    return paths


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def bench_decode(paths, draft: bool) -> float:
    t = time.perf_counter()
    for p in paths:
        if draft:
            open_image(p, min_short_side=384)   # what featurize uses for Lite0 (DRAFT_FACTOR x 256)
        else:
            with Image.open(p) as im:
                im.convert("RGB").load()
    return rate(len(paths), time.perf_counter() - t)


def bench_prepare(paths, featurizer: Featurizer) -> float:
    t = time.perf_counter()
    for p in paths:
        featurizer.prepare(p)
    return rate(len(paths), time.perf_counter() - t)


def bench_pipeline(records, featurizer: Featurizer, decode_threads: int = 1) -> float:
    featurizer.run(np.zeros((1, 3, featurizer.prep.crop, featurizer.prep.crop), np.float32))  # warm up / export
    t = time.perf_counter()
    table = compute_features(records, FeaturizeStage(FeaturizeSpec(), featurizer), get_engine(decode_threads=decode_threads),
                             cache=False)
    assert not table.failures, table.failures
    return rate(len(records), time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="photos per row (default 200)")
    ap.add_argument("--kit", default=os.environ.get("IRBIS_DATA_KIT", str(REPO.parent / "shared" / "data")))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("IRBIS_HOME", str(Path(tmp) / "home"))
        paths = make_photos(Path(args.kit), Path(tmp) / "photos", args.n)
        with Catalog(Path(tmp) / "c.sqlite") as cat:
            ingest_folder(Path(tmp) / "photos", cat, progress=False)
            records = cat.images(Path(tmp) / "photos")
        onnx = Featurizer(runtime="onnx")
        torch_eager = Featurizer(runtime="torch")
        rows = [
            ("decode only, full (Pillow)", bench_decode(paths, draft=False)),
            ("decode only, draft mode (irbis)", bench_decode(paths, draft=True)),
            ("decode + resize + crop (irbis prepare)", bench_prepare(paths, onnx)),
            ("decode + featurize, ONNX Runtime", bench_pipeline(records, onnx)),
            ("decode + featurize, torch eager", bench_pipeline(records, torch_eager)),
        ]
    print(f"\nEfficientNet-Lite0 features, {args.n} JPEGs 2048x1536, {os.cpu_count()} CPU cores, "
          f"1 decode thread + 1 inference thread")
    print(f"{'stage':<42} {'img/s':>8}")
    for name, r in rows:
        print(f"{name:<42} {r:>8.1f}")
    d_full, d_draft = rows[0][1], rows[1][1]
    f_onnx, f_torch = rows[3][1], rows[4][1]
    print(f"\ndraft vs full decode: {d_draft / d_full:.1f}x;  ONNX Runtime vs torch eager: {f_onnx / f_torch:.1f}x")


if __name__ == "__main__":
    main()
