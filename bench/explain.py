"""LIME speed: seconds per photo at 500 samples beside the featurize-only ceiling, one run.

    .venv/bin/python bench/explain.py MODEL [--n 5] [--samples 500] [--threads 1] [--kit DIR] [--spark local[2]]

Photos: the kit's real heron burst (Reconyx, 1920x1080 JPEG). Rows, measured side by side:
  featurize only    decode + network input + one inference per photo (what `irbis featurize` does)
  inference only    one (1, 3, 224, 224) forward pass of the bundle's scorer
  LIME ceiling      samples x inference only: no explanation at this many samples can be faster
  LIME              the explain stage (irbis.stages.explain_photo): one decode, SLIC, masks, batched scoring, fit
and the parts of LIME that are not inference (SLIC, masking + fit). The aim is <= 5 s per photo
with EfficientNet-Lite0 on 2 cores; the result is printed as measured, not as hoped.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from irbis.imageio import DRAFT_FACTOR, network_input, open_image  # noqa: E402
from irbis.stages import explain as lime  # noqa: E402
from irbis.stages.classify import ClassifierSpec  # noqa: E402
from irbis.stages.explain_photo import ExplainSpec  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--n", type=int, default=5, help="photos (default: 5)")
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (default: 1)")
    ap.add_argument("--kit", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--spark", metavar="MASTER", help="also time `irbis explain` on the local engine and on Spark "
                    "with this master (e.g. local[2]), same photos")
    args = ap.parse_args()
    photos = sorted((args.kit / "cameratrap/dev/camtrapdp_heron").glob("*.JPG"))
    photos = (photos or sorted((REPO / "examples/demo/test/heron_burst").glob("*.JPG")))[: args.n]
    scorer = ClassifierSpec(str(args.model), threads=args.threads).build()
    options = lime.LimeOptions(samples=args.samples)
    scorer(np.zeros((1, 3, scorer.prep.crop, scorer.prep.crop), np.float32))   # load / export once

    t = time.perf_counter()
    for p in photos:
        scorer(network_input(open_image(p, min_short_side=math.ceil(DRAFT_FACTOR * scorer.prep.resize_short)),
                             scorer.prep)[None])
    featurize = (time.perf_counter() - t) / len(photos)

    x = np.random.default_rng(0).normal(size=(32, 3, scorer.prep.crop, scorer.prep.crop)).astype(np.float32)
    t = time.perf_counter()
    for _ in range(4):
        scorer(x)
    inference = (time.perf_counter() - t) / (4 * len(x))

    slic = fit = 0.0
    for p in photos[:2]:
        xi = network_input(open_image(p), scorer.prep)
        t = time.perf_counter()
        seg = lime.superpixels(xi, options.segments, options.compactness)
        slic += (time.perf_counter() - t) / 2
        masks = lime.sample_masks(int(seg.max()) + 1, options)
        t = time.perf_counter()
        for i in range(0, len(masks), options.batch):
            _ = xi[None] * masks[i:i + options.batch][:, seg][:, None]
        lime.fit_weights(masks, np.random.default_rng(0).random(len(masks)), options.kernel_width)
        fit += (time.perf_counter() - t) / 2

    stage = ExplainSpec(scorer.spec, options).build()
    t = time.perf_counter()
    for p in photos:
        stage.explain_path(str(p))
    per_photo = (time.perf_counter() - t) / len(photos)

    ceiling = options.samples * inference
    print(f"{len(photos)} photos ({photos[0].parent.name}), {options.samples} samples, "
          f"{args.threads} inference thread(s)")
    print(f"featurize only      {featurize:7.3f} s/photo   ({1 / featurize:6.1f} photos/s)")
    print(f"inference only      {inference:7.4f} s/image   ({1 / inference:6.1f} images/s)")
    print(f"LIME ceiling        {ceiling:7.2f} s/photo   ({options.samples} x inference only)")
    print(f"LIME                {per_photo:7.2f} s/photo   ({per_photo / ceiling:.2f}x the ceiling, "
          f"{per_photo / featurize:.0f}x featurize only; aim <= 5 s: {'met' if per_photo <= 5 else 'MISSED'})")
    print(f"  of which SLIC {slic:.3f} s, masking + fit {fit:.3f} s")
    if args.spark:
        engines(args.model, photos, options, args.spark)


def engines(model: str, photos: list[Path], options, master: str) -> None:
    """`irbis explain` end to end (files written) on the local engine and on Spark, same photos."""
    import tempfile

    from irbis.engines import get_engine
    from irbis.engines.spark import SparkEngine
    from irbis.explain_run import explain_photos
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        explain_photos(model, photos, Path(tmp) / "local", options, progress=False, engine=get_engine("local"))
        local = (time.perf_counter() - t) / len(photos)
        with SparkEngine(master=master) as spark:
            t = time.perf_counter()
            explain_photos(model, photos[:2], Path(tmp) / "warm", lime.LimeOptions(samples=8), progress=False,
                           engine=spark)
            warm = time.perf_counter() - t
            t = time.perf_counter()
            explain_photos(model, photos, Path(tmp) / "spark", options, progress=False, engine=spark)
            on_spark = (time.perf_counter() - t) / len(photos)
    print(f"irbis explain, local engine      {local:7.2f} s/photo (end to end, files written)")
    print(f"irbis explain, spark {master:<10}  {on_spark:7.2f} s/photo ({local / on_spark:.2f}x the local engine; "
          f"session + warm-up {warm:.1f} s, not counted)")


if __name__ == "__main__":
    main()
