"""Per-file metadata read without decoding pixels: EXIF time, camera, size, content hash."""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from datetime import datetime

from PIL import Image, UnidentifiedImageError

from ..entries import entry_problem, size_problem
from ..hashing import content_hash
from ..imageio import MAX_FILE_BYTES, MAX_PIXELS

EXIF_IFD = 0x8769
TAG_DATETIME_ORIGINAL = 36867
TAG_DATETIME_DIGITIZED = 36868
TAG_DATETIME = 306
TAG_MAKE, TAG_MODEL, TAG_ORIENTATION = 271, 272, 274
TAG_BODY_SERIAL = 42033


def parse_exif_datetime(value) -> str | None:
    """'2021:05:31 08:25:38' (and common variants) -> '2021-05-31T08:25:38'; None if unusable."""
    if not value:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    text = str(value).strip().strip("\x00").strip()
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M", "%Y-%m-%dT%H:%M:%S",
                "%Y/%m/%d %H:%M:%S"):
        try:
            return datetime.strptime(text[:19], fmt).isoformat()
        except ValueError:
            continue
    return None


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "ignore")
    value = str(value).strip().strip("\x00").strip()
    return value or None


def _blank() -> dict:
    """Every field :func:`read_metadata` returns, unknown."""
    return dict.fromkeys(("size", "mtime", "sha256", "failure", "datetime_original", "make", "model", "serial",
                          "width", "height", "orientation"))


def read_metadata(path: str | os.PathLike) -> dict:
    """EXIF time, make, model, serial, width, height, orientation, size, sha256, failure."""
    out = _blank()
    problem = entry_problem(path)   # a FIFO, device, dangling link, loop, unreadable file: say so
    if problem:
        out["failure"] = problem
        return out
    try:
        st = os.stat(path)
    except OSError as exc:   # gone or changed since entry_problem looked
        out["failure"] = entry_problem(path) or f"cannot read file: {exc.strerror or exc}"
        return out
    out["size"], out["mtime"] = st.st_size, st.st_mtime
    out["failure"] = size_problem(st.st_size, MAX_FILE_BYTES)
    if out["failure"]:
        return out
    try:
        out["sha256"] = content_hash(path)
    except OSError as exc:
        out["failure"] = entry_problem(path) or f"cannot read file: {exc.strerror or exc}"
        return out
    return _header(path, out)


def read_metadata_bytes(data: bytes, mtime: float | None = None) -> dict:
    """:func:`read_metadata` of a file's bytes already read (photos the spark engine reads by URL)."""
    out = {**_blank(), "size": len(data), "mtime": mtime}
    out["failure"] = size_problem(len(data), MAX_FILE_BYTES)
    if out["failure"]:
        return out
    out["sha256"] = hashlib.sha256(data).hexdigest()
    return _header(io.BytesIO(data), out)


def _header(fp, out: dict) -> dict:
    """Size, EXIF and the pixel limit from the image header (no pixels decoded) into ``out``."""
    try:
        with warnings.catch_warnings(action="ignore", category=Image.DecompressionBombWarning), \
                Image.open(fp) as im:
            out["width"], out["height"] = im.size
            exif = im.getexif()
            sub = exif.get_ifd(EXIF_IFD)
            out["datetime_original"] = (parse_exif_datetime(sub.get(TAG_DATETIME_ORIGINAL))
                                        or parse_exif_datetime(sub.get(TAG_DATETIME_DIGITIZED))
                                        or parse_exif_datetime(exif.get(TAG_DATETIME)))
            out["make"], out["model"] = _text(exif.get(TAG_MAKE)), _text(exif.get(TAG_MODEL))
            out["serial"] = _text(sub.get(TAG_BODY_SERIAL))
            out["orientation"] = int(exif.get(TAG_ORIENTATION, 1) or 1)
            if im.size[0] * im.size[1] > MAX_PIXELS:
                out["failure"] = (f"image too large: {im.size[0]}x{im.size[1]} exceeds the "
                                  f"{MAX_PIXELS / 1e6:.0f} MP limit (possible decompression bomb)")
    except UnidentifiedImageError:
        out["failure"] = "not an image (unknown or corrupt format)"
    except Image.DecompressionBombError as exc:
        out["failure"] = f"image too large (possible decompression bomb): {exc}"
    except Exception as exc:  # a broken EXIF block must not stop the ingest
        if out["width"] is None:
            out["failure"] = f"unreadable header: {exc}"
    return out
