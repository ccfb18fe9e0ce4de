"""The label files of a proxy data set, in the layouts public camera-trap sets use.

* ``labels.csv``: one row per image, ``file,label,sequence,deployment,split`` (irbis train reads it).
* ``sequence_labels.csv``: one row per burst, ``seq_id`` then one-hot ``empty`` and class columns
  (Snapshot Serengeti / Hakuna Ma-data ``train_labels.csv`` style).
* ``metadata.csv``: ``file_name,seq_id,datetime,location`` (Serengeti ``train_metadata.csv`` style).
* ``cct.json``: COCO Camera Traps (info, images, categories, annotations with pixel boxes).
* ``README.txt``: what the data is, from which parts, the seed and parameters.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .. import __version__
from .plan import Plan

OUTPUT_FILES = ("labels.csv", "sequence_labels.csv", "metadata.csv", "cct.json", "README.txt")


@dataclass(frozen=True)
class ImageRow:
    """One written frame and what is in it."""

    file: str                 # relative to the output folder, '/' separated
    seq_id: str
    camera: str
    split: str
    frame: int                # 1-based
    n_frames: int
    time: datetime
    label: str                # per image: the class when the animal is visible, else "empty"
    seq_label: str            # per burst
    box: tuple[int, int, int, int] | None
    species: str | None       # the cut-out's English name
    cutout: str | None        # the cut-out's path in the kit
    night: bool
    temperature_c: int
    width: int
    height: int


def write_labels(out: Path, rows: list[ImageRow]) -> None:
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label", "sequence", "deployment", "split"])
        for r in rows:
            w.writerow([r.file, r.label, r.seq_id, r.camera, r.split])


def write_sequence_labels(out: Path, rows: list[ImageRow], classes: list[str]) -> None:
    cols = ["empty", *classes]
    seqs: dict[str, str] = {}
    for r in rows:
        seqs.setdefault(r.seq_id, r.seq_label)
    with open(out / "sequence_labels.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["seq_id", *cols])
        for seq_id, label in seqs.items():
            w.writerow([seq_id, *(int(c == label) for c in cols)])


def write_metadata(out: Path, rows: list[ImageRow]) -> None:
    with open(out / "metadata.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file_name", "seq_id", "datetime", "location"])
        for r in rows:
            w.writerow([r.file, r.seq_id, r.time.strftime("%Y-%m-%d %H:%M:%S"), r.camera])


def cct_dict(plan: Plan, rows: list[ImageRow], classes: list[str]) -> dict:
    """COCO Camera Traps: category 0 is empty; every image has one annotation, animal ones a box."""
    cfg = plan.config
    cat_id = {"empty": 0, **{c: i for i, c in enumerate(classes, start=1)}}
    images, annotations = [], []
    for r in rows:
        image_id = Path(r.file).stem
        images.append({"id": image_id, "file_name": r.file, "width": r.width, "height": r.height,
                       "seq_id": r.seq_id, "seq_num_frames": r.n_frames, "frame_num": r.frame,
                       "location": r.camera, "datetime": r.time.strftime("%Y-%m-%d %H:%M:%S"),
                       "split": r.split, "night": r.night})
        ann = {"id": f"{image_id}_a", "image_id": image_id, "category_id": cat_id[r.label],
               "sequence_level_annotation": False}
        if r.box is not None and r.label != "empty":
            x, y, w, h = r.box
            ann.update(bbox=[x, y, w, h], area=w * h, species=r.species, cutout=r.cutout)
        annotations.append(ann)
    splits = {s: sorted(c.id for c in plan.cameras if c.split == s) for s in ("train", "test")}
    return {
        "info": {"version": "1.0", "description": "irbis synth: camera-trap-like proxy data (cut-outs "
                                                  "pasted into real scenes); not real camera-trap photos",
                 "contributor": f"irbis {__version__}", "year": datetime.strptime(cfg.start, "%Y-%m-%d").year,
                 "seed": cfg.seed, "parameters": cfg.as_dict(), "splits": splits},
        "categories": [{"id": i, "name": n} for n, i in cat_id.items()],
        "images": images,
        "annotations": annotations,
    }


def write_cct(out: Path, plan: Plan, rows: list[ImageRow], classes: list[str]) -> None:
    with open(out / "cct.json", "w", encoding="utf-8") as fh:
        json.dump(cct_dict(plan, rows, classes), fh, indent=1)
        fh.write("\n")


def readme_text(plan: Plan, kit_root: Path, class_folders: dict[str, str], rows: list[ImageRow]) -> str:
    cfg = plan.config
    cams = "\n".join(f"  {c.id} ({c.split}): {c.scene.name}" for c in plan.cameras)
    classes = "\n".join(f"  {name}: cutouts/{folder}" for name, folder in class_folders.items())
    n_seq = len({r.seq_id for r in rows})
    test_cams = sum(c.split == "test" for c in plan.cameras)
    class_arg = ",".join(f"{n}={f}" for n, f in class_folders.items())
    return f"""PROXY DATA: camera-trap-like bursts built by `irbis synth` (irbis {__version__}).
These are NOT real camera-trap photos. Real photographs of outdoor scenes without animals serve as
fixed camera backgrounds; animal cut-outs are pasted in at random sizes and positions, moving across
each burst, with lighting changes, sensor noise, night infrared (grey, vignetted, noisier, blurred)
and a printed info strip. Report any accuracy measured on this data as a proxy figure.

Parts, from the data kit at {kit_root}:
  backgrounds: photos/no_animals/ (Wikimedia Commons via Debian gcompris-qt-data; CC0, public
               domain, CC-BY, CC-BY-SA)
  cut-outs:    cutouts/ (Debian tuxpaint-stamps-default; GPL-2)
Attribution (licence, author and source per file): the kit's manifest.csv and README files. Each
animal annotation in cct.json names the cut-out file it was made from; the cameras' scene files
are listed below.

Seed {cfg.seed}: {len(plan.cameras)} cameras x {cfg.bursts_per_camera} bursts of {cfg.burst_frames} frame(s) \
1 s apart = {n_seq} bursts, {len(rows)} images of {cfg.width}x{cfg.height} (JPEG quality {cfg.quality});
empty share {cfg.empty_fraction:g}, night share {cfg.night_fraction:g}; {cfg.days} day(s) from {cfg.start};
{test_cams} camera(s) held out for test.
Rebuild: irbis synth OUT_DIR --kit KIT --seed {cfg.seed} --cameras {cfg.cameras} \\
  --bursts-per-camera {cfg.bursts_per_camera} --burst {cfg.burst_frames} --empty-fraction {cfg.empty_fraction:g} \\
  --night-fraction {cfg.night_fraction:g} --size {cfg.width}x{cfg.height} --days {cfg.days} \\
  --start {cfg.start} --test-fraction {cfg.test_fraction:g} --quality {cfg.quality} \\
  --classes {class_arg}

Classes (folder of cut-outs in the kit):
{classes}
Cameras (split by location: test cameras never appear in train):
{cams}

Files:
  photos/<camera>/<seq_id>_<frame>.jpg  EXIF DateTimeOriginal, Make, Model, body serial
  labels.csv           file,label,sequence,deployment,split (one row per image)
  sequence_labels.csv  seq_id, then one-hot columns: empty, classes (one row per burst)
  metadata.csv         file_name,seq_id,datetime,location
  cct.json             COCO Camera Traps; category 0 = empty; bbox [x, y, w, h] in pixels, the
                       visible part of the animal clipped to the frame above the info strip
"""


def write_all(out: Path, plan: Plan, rows: list[ImageRow], classes: list[str], kit_root: Path,
              class_folders: dict[str, str]) -> None:
    """Write every label file and the README into ``out``."""
    write_labels(out, rows)
    write_sequence_labels(out, rows, classes)
    write_metadata(out, rows)
    write_cct(out, plan, rows, classes)
    (out / "README.txt").write_text(readme_text(plan, kit_root, class_folders, rows), encoding="utf-8")
