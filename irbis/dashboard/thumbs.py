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

from PIL import Image

from ..atomic import atomic_write
from ..imageio import ImageReadError, open_image
from ..privacy import blur_people

THUMB_PX, VIEW_PX = 320, 1600
PERSON = "2"


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
            im = blur_people(im, detections)   # irbis.privacy: the blur every written photo gets
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "JPEG", quality=82)
        data = buf.getvalue()
        cached.parent.mkdir(exist_ok=True)
        atomic_write(cached, data)
        return data
