"""Measure the activation ranges behind MegadetectorLite's INT8 graphs (irbis/models/int8.py).

    .venv/bin/python bench/int8_calibrate.py [--data ../shared/data] [--out irbis/data/mdlite-int8-ranges.json]

Calibration frames are dev camera-trap frames only (every 2nd jaguar and heron frame, every 4th
MegaDetector sample: 26 photos; never the holdout), decoded as irbis decodes them and
letterboxed on the square canvas of each pass (640 and 1280 px). The float graph is exported
as irbis exports it; ONNX Runtime's MinMax calibrator records each activation's range, and the
tables are written in its calibration-cache format, one per input size.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from irbis.imageio import open_image  # noqa: E402
from irbis.models.int8 import RANGES_FILE, calibrate  # noqa: E402
from irbis.models.onnx_runtime import export_onnx  # noqa: E402
from irbis.models.yolox import load_megadetector_lite  # noqa: E402
from irbis.stages.detect import letterbox  # noqa: E402


def calibration_frames(data: Path) -> list[Path]:
    dev = data / "cameratrap" / "dev"
    return (sorted((dev / "animl_Jaguar").glob("*.jpg"))[::2] + sorted((dev / "camtrapdp_heron").glob("*.JPG"))[::2]
            + sorted((dev / "megadetector_samples").glob("*"))[::4])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(REPO / "irbis" / "data" / RANGES_FILE))
    ap.add_argument("--sizes", default="640,1280")
    args = ap.parse_args()
    frames = calibration_frames(Path(args.data))
    tables = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            fp32 = Path(tmp) / f"fp32-{size}.onnx"
            export_onnx(load_megadetector_lite(), size, fp32)
            inputs = [letterbox(open_image(f, min_short_side=size), size)[0][None] for f in frames]
            tables[str(size)] = calibrate(fp32, inputs)
            print(f"{size} px: {len(frames)} frames, {len(tables[str(size)]['data'])} tensors", flush=True)
    Path(args.out).write_text(json.dumps(tables, sort_keys=True) + "\n")
    print(f"written {args.out} ({os.path.getsize(args.out)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
