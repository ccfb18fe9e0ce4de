"""Generate a tiny camera-trap survey with EXIF times, from the photos bundled in examples/demo.

    python tests/data/exif_survey/data.py OUT_DIR

Two cameras (``camA``: three frames, the third 270 s after the second; ``camB``: two frames 10 s
apart, a PNG among them, one photo without a time, and a non-photo file). Each photo is a bundled
scene re-saved at 320 px with EXIF make, model and DateTimeOriginal. Tests call :func:`make` and
:func:`write_photo`; nothing here needs the data kit, so these tests run on any clone.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[3]
SCENES = REPO / "examples" / "demo" / "train" / "no_animals"

LAYOUT = [("camA/a1.jpg", "2024:03:01 10:00:00"), ("camA/a2.JPG", "2024:03:01 10:00:30"),
          ("camA/a3.jpeg", "2024:03:01 10:05:00"), ("camB/b1.jpg", "2024:03:01 09:00:00"),
          ("camB/b2.png", "2024:03:01 09:00:10"), ("camB/untimed.webp", None)]


def write_photo(path: Path, when: str | None, src: Path | None = None, make: str = "irbis-test") -> Path:
    """A real scene re-saved small with an EXIF DateTimeOriginal ('YYYY:MM:DD HH:MM:SS')."""
    src = src or sorted(SCENES.glob("*.webp"))[0]
    im = Image.open(src).convert("RGB")
    im.thumbnail((320, 320))
    exif = Image.Exif()
    exif[271] = make
    exif[272] = "T1"
    if when:
        exif.get_ifd(0x8769)[36867] = when
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, exif=exif.tobytes())
    return path


def make(root: Path) -> Path:
    """Write the survey below ``root`` (created) and return it."""
    for rel, when in LAYOUT:
        write_photo(root / rel, when)
    (root / "camB" / "notes.txt").write_text("not a photo")
    return root


if __name__ == "__main__":
    print(make(Path(sys.argv[1])))
