"""``irbis synth``: build camera-trap-like proxy data from the data kit."""

from __future__ import annotations

import argparse
import re

from ..synth.kit import CLASS_FOLDERS, DEFAULT_CLASSES, KIT_ENV


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1024x768, not {text!r}")
    return int(m.group(1)), int(m.group(2))


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``synth`` sub-command."""
    from ..synth.plan import SynthConfig
    d = SynthConfig()
    p = subparsers.add_parser(
        "synth", help="build camera-trap-like proxy data (cut-outs in real scenes) from the data kit",
        description="Build camera-trap-like proxy data: real scenes without animals as fixed cameras, "
                    "animal cut-outs pasted in, bursts with EXIF times, night IR, info strips; labels "
                    "per image and per sequence, COCO Camera Traps boxes, a train/test split by camera.")
    p.add_argument("out_dir", help="folder to write (must be empty unless --overwrite)")
    p.add_argument("--kit", help=f"the data kit folder (default: ${KIT_ENV})")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (default: %(default)s)")
    p.add_argument("--cameras", type=int, default=d.cameras, help="cameras, one scene each (default: %(default)s)")
    p.add_argument("--bursts-per-camera", type=int, default=d.bursts_per_camera,
                   help="bursts per camera (default: %(default)s)")
    p.add_argument("--burst", type=int, default=d.burst_frames, help="frames per burst, 1 s apart "
                                                                      "(default: %(default)s)")
    p.add_argument("--empty-fraction", type=float, default=d.empty_fraction,
                   help="share of bursts without an animal (default: %(default)s)")
    p.add_argument("--night-fraction", type=float, default=d.night_fraction,
                   help="share of bursts at night, infrared (default: %(default)s)")
    p.add_argument("--classes", help="comma-separated classes: known names (" + ", ".join(CLASS_FOLDERS)
                                     + "), folders below cutouts/, or NAME=FOLDER (default: "
                                     + ",".join(DEFAULT_CLASSES) + ")")
    p.add_argument("--size", type=_size, default=(d.width, d.height), metavar="WxH",
                   help=f"frame size (default: {d.width}x{d.height})")
    p.add_argument("--days", type=int, default=d.days, help="days the cameras run (default: %(default)s)")
    p.add_argument("--start", default=d.start, help="first day, YYYY-MM-DD (default: %(default)s)")
    p.add_argument("--test-fraction", type=float, default=d.test_fraction,
                   help="share of cameras held out as the test split (default: 1/3)")
    p.add_argument("--quality", type=int, default=d.quality, help="JPEG quality (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace a previous synth output in OUT_DIR")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_synth)
    return p


def cmd_synth(args) -> int:
    from ..synth.build import build_synth
    from ..synth.plan import SynthConfig
    classes = tuple(s.strip() for s in args.classes.split(",") if s.strip()) if args.classes else None
    config = SynthConfig(seed=args.seed, cameras=args.cameras, bursts_per_camera=args.bursts_per_camera,
                         burst_frames=args.burst, empty_fraction=args.empty_fraction,
                         night_fraction=args.night_fraction, classes=classes, width=args.size[0],
                         height=args.size[1], days=args.days, start=args.start,
                         test_fraction=args.test_fraction, quality=args.quality)
    report = build_synth(args.out_dir, args.kit, config, progress=not args.quiet, overwrite=args.overwrite)
    print(report.summary())
    return 0
