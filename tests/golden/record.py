"""Record what irbis writes for a fixed set of photos, to check that a refactor changes no output.

    python tests/golden/record.py OUT_DIR [--full]

Runs, each as a user would from the command line and with a fresh irbis home under OUT_DIR:
``irbis train`` (the demo's labels) -> ``irbis featurize --flip`` -> ``irbis predict --by-sequence``
-> ``irbis detect`` -> ``irbis run`` on the demo's held-out photos (``--full``: all of them and the
kit's jaguar frames). Then writes ``OUT_DIR/digests.json``: a SHA-256 per output file (features: over every cached
vector, sorted by key), with the paths that vary by machine (the catalog path, dates) removed first.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "examples" / "demo"
SMALL = ["animals", "heron_burst"]          # subfolders of examples/demo/test used by the quick check


def irbis(*args, home: Path) -> None:
    env = {**os.environ, "IRBIS_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-m", "irbis.cli", *map(str, args), "--quiet"], env=env,
                          capture_output=True, text=True, cwd=REPO)
    if proc.returncode:
        raise SystemExit(f"irbis {' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}")


def md_digest(path: Path) -> str:
    doc = json.loads(path.read_text())
    doc["info"].pop("detection_completion_time", None)
    doc["info"].pop("classification_completion_time", None)
    doc["info"].pop("irbis_version", None)
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def features_digest(home: Path) -> str:
    db = sqlite3.connect(str(home / "features.sqlite"))
    h = hashlib.sha256()
    for sha, fid, flipped, vec in db.execute("SELECT sha256, featurizer, flipped, vec FROM features "
                                             "ORDER BY sha256, featurizer, flipped"):
        h.update(f"{sha}|{fid}|{flipped}|".encode() + vec)
    db.close()
    return h.hexdigest()


def record(out: Path, photos: list[Path], bundle: Path | None = None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    home = out / "home"
    photos_dir = out / "photos"
    if not photos_dir.exists():
        photos_dir.mkdir()
        for p in photos:
            shutil.copy2(p, photos_dir / p.name)
    if bundle is None:
        bundle = out / "demo.irbis"
        irbis("train", DEMO / "train" / "labels.csv", "--out", bundle, "--catalog", out / "train.sqlite", home=home)
    cat = out / "catalog.sqlite"
    irbis("featurize", photos_dir, "--flip", "--catalog", cat, home=home)
    irbis("predict", bundle, photos_dir, "--out", out / "predictions.csv", "--by-sequence", "--catalog", cat,
          home=home)
    irbis("detect", photos_dir, "--out", out / "detect.json", "--catalog", cat, home=home)
    irbis("run", photos_dir, "--model", bundle, "--out", out / "run.json", "--catalog", cat, home=home)
    digests = {"features": features_digest(home),
               "predictions.csv": hashlib.sha256((out / "predictions.csv").read_bytes()).hexdigest(),
               "detect.json": md_digest(out / "detect.json"), "run.json": md_digest(out / "run.json")}
    (out / "digests.json").write_text(json.dumps(digests, indent=1) + "\n")
    return digests


def photo_set(full: bool = False) -> list[Path]:
    """The quick check's 8 photos (4 animals, 4 frames of the heron burst), or with ``full`` every demo
    test photo plus the kit's jaguar frames."""
    folders = ["animals", "heron_burst", "no_animals"] if full else SMALL
    photos = sorted(p for f in folders for p in (DEMO / "test" / f).iterdir() if p.suffix.lower() in
                    (".jpg", ".jpeg", ".png", ".webp"))
    if not full:
        return photos[:4] + [p for p in photos if "heron" in str(p.parent)][:4]
    jaguars = REPO.parent / "shared" / "data" / "cameratrap" / "dev" / "animl_Jaguar"
    return photos + sorted(jaguars.glob("*.[jJ][pP][gG]"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--full", action="store_true", help="all demo test photos plus the kit's jaguar frames")
    ap.add_argument("--bundle", type=Path, help="use this model bundle instead of training one")
    a = ap.parse_args()
    print(json.dumps(record(a.out, photo_set(a.full), a.bundle), indent=1))


if __name__ == "__main__":
    main()
