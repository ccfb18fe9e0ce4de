"""Exchange formats: how long Camtrap DP / COCO CT export and the events table take on a proxy survey.

Builds `irbis synth` proxy data (real scenes with pasted real cut-outs; 12 cameras x 40 bursts x 3
frames by default), catalogues it from its cct.json, turns the CCT truth into MD results and times,
side by side in one run: Camtrap DP export with and without the frictionless validation, COCO CT
export, the independent-events table, and re-import of the package (validated).

    .venv/bin/python bench/exchange.py [--kit ../shared/data] [--cameras 12] [--bursts 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from irbis.catalog import Catalog
from irbis.events import independent_events
from irbis.formats.camtrap_dp import ExportOptions, export_camtrap_dp
from irbis.formats.coco_ct import cct_to_results, read_cct, survey_to_cct, write_cct
from irbis.formats.md_json import write_results
from irbis.formats.survey import load_survey
from irbis.ingest.camtrap_dp import read_package
from irbis.ingest.coco_ct import ingest_cct
from irbis.synth import SynthConfig, build_synth, load_kit


def timed(label: str, fn, n: int, rows: list):
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    rows.append((label, dt, n / dt if dt else float("inf")))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kit", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--cameras", type=int, default=12)
    ap.add_argument("--bursts", type=int, default=40)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="irbis-bench-exchange-") as tmp:
        tmp = Path(tmp)
        build_synth(tmp / "syn", load_kit(args.kit), SynthConfig(seed=0, cameras=args.cameras,
                                                                 bursts_per_camera=args.bursts, width=320,
                                                                 height=240), progress=False)
        data = read_cct(tmp / "syn" / "cct.json")
        n = len(data.images)
        rows: list = []
        with Catalog(tmp / "c.sqlite") as cat:
            timed("ingest --coco-ct (EXIF + SHA-256 of every photo)", lambda: ingest_cct(data, cat, progress=False),
                  n, rows)
        write_results(tmp / "md.json", cct_to_results(data))
        survey = timed("join results with catalog", lambda: load_survey(tmp / "md.json", tmp / "c.sqlite"), n, rows)
        deps = tmp / "deps.csv"
        deps.write_text("deployment,latitude,longitude\n" + "".join(
            f"CAM{i:02d},{-2.0 - i / 100:.3f},34.8\n" for i in range(1, args.cameras + 1)))
        opts = ExportOptions(timezone="+03:00", deployments_csv=str(deps))
        timed("Camtrap DP export, no validation", lambda: export_camtrap_dp(survey, tmp / "a", opts, validate=False),
              n, rows)
        timed("Camtrap DP export, validated (frictionless)", lambda: export_camtrap_dp(survey, tmp / "b", opts), n,
              rows)
        timed("Camtrap DP re-import, validated", lambda: read_package(tmp / "b"), n, rows)
        timed("COCO CT export", lambda: write_cct(tmp / "cct.json", survey_to_cct(survey)), n, rows)
        with Catalog(tmp / "c.sqlite") as cat:
            records = cat.images()
        timed("independent events, 30 min", lambda: independent_events(survey.results, records, 1800), n, rows)
    print(f"proxy survey: {n} photos (irbis synth, {args.cameras} cameras x {args.bursts} bursts x 3 frames)")
    print(f"{'step':<52} {'seconds':>8} {'photos/s':>9}")
    for label, dt, rate in rows:
        print(f"{label:<52} {dt:>8.2f} {rate:>9.0f}")
    plain, valid = rows[2][1], rows[3][1]
    print(f"validation costs {valid / plain:.1f}x the plain export")


if __name__ == "__main__":
    main()
