"""Thumbnails and display copies of survey photos, people blurred by default, cached on disk.

Only paths the index holds for a survey's photo are ever opened (the request names a photo id,
never a path). Cache entries are keyed by the file's path, size and mtime and the rendering, and
written atomically.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

from PIL import Image, ImageFilter

from ..atomic import atomic_write
from ..imageio import ImageReadError, open_image

THUMB_PX, VIEW_PX = 320, 1600
PERSON = "2"


def blur_people(image: Image.Image, detections: list[dict], min_conf: float = 0.1) -> Image.Image:
    """Blur every person box (category "2") at or above ``min_conf``; boxes are normalised [x, y, w, h].

    The one place the dashboard hides people: swap in :mod:`irbis.privacy` (issue 16) here.
    """
    W, H = image.size
    out = image.copy()
    for d in detections:
        if str(d.get("category")) != PERSON or float(d.get("conf", 0)) < min_conf:
            continue
        x, y, w, h = d["bbox"]
        box = (max(0, int(x * W) - 2), max(0, int(y * H) - 2), min(W, int((x + w) * W) + 2),
               min(H, int((y + h) * H) + 2))
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        region = out.crop(box)
        radius = max(6, (box[2] - box[0]) // 6)
        out.paste(region.filter(ImageFilter.GaussianBlur(radius)), box[:2])
    return out


class ThumbCache:
    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def key(self, path: str, size: int, blur: bool) -> str:
        st = os.stat(path)
        raw = f"{path}|{st.st_size}|{st.st_mtime_ns}|{size}|{int(blur)}".encode()
        return hashlib.sha256(raw).hexdigest()[:32]

    def get(self, path: str, detections: list[dict], size: int = THUMB_PX, blur: bool = True) -> bytes:
        """JPEG bytes of ``path`` fitted into ``size`` px; raises ImageReadError for an unreadable photo."""
        try:
            key = self.key(path, size, blur)
        except OSError as exc:
            raise ImageReadError(f"cannot read file: {exc.strerror or exc}") from exc
        cached = self.folder / key[:2] / f"{key}.jpg"
        if cached.is_file():
            return cached.read_bytes()
        im = open_image(path, min_short_side=min(size, 1024))
        im.thumbnail((size, size), Image.Resampling.BILINEAR)
        if blur:
            im = blur_people(im, detections)
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "JPEG", quality=82)
        data = buf.getvalue()
        cached.parent.mkdir(exist_ok=True)
        atomic_write(cached, data)
        return data
